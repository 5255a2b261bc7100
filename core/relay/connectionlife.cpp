#include "connectionlife.h"

#include "monotonicclock.h"

#include <QDateTime>

namespace {

// Waits for a destination shorter than this are counted, not marked: a
// bulk transfer meets a full socket many times a second.
constexpr qint64 StallMarkUs = 10'000;
constexpr int MaxMarkedStalls = 32;
// An HTTP proxy's connection reaches an upstream per host; its marks stop
// here (the count of the rest is kept).
constexpr int MaxMarks = 512;
// Room made once for the first marks: growing the list mark by mark was a
// measurable part of the CPU a short connection costs. An idle connection
// has three or four (accepted, resolved, connecting, connected), and a
// short one about ten, which take one growth; more room would sit unused
// in every idle connection (240 bytes each with 12), and a published
// snapshot shares the list, so the next mark copies it anyway.
constexpr int UsualMarks = 6;

} // namespace

ConnectionLife::ConnectionLife(ConnectionRecord &record, quint64 id)
    : m_record(record)
    , m_timeline(record.timeline)
    , m_originUs(MonotonicClock::nowUs())
{
    m_timeline.marks.reserve(UsualMarks);
    m_record.id = id;
    m_record.openedMs = QDateTime::currentMSecsSinceEpoch();
    m_record.state = ConnectionRecord::State::Resolving;
    mark(Mark::Kind::Accepted, Mark::Lane::Client, 0, QString(), m_originUs);
}

void ConnectionLife::halfClosed(Side side)
{
    if (!m_halfClosed) {
        m_halfClosed = true;
        m_firstFin = side;
    }
}

void ConnectionLife::closed(ConnectionRecord::CloseReason reason, const QString &why, qint64 nowUs)
{
    m_record.state = ConnectionRecord::State::Closed;
    m_record.closeReason = reason;
    m_record.error = why;
    m_record.closedMs = QDateTime::currentMSecsSinceEpoch();
    mark(Mark::Kind::Closed, Mark::Lane::Connection, qint32(reason), why, nowUs);
}

void ConnectionLife::mark(Mark::Kind kind, Mark::Lane lane, qint32 code, const QString &note, qint64 atUs)
{
    Mark mark;
    mark.kind = kind;
    mark.lane = lane;
    mark.code = code;
    mark.note = note;
    add(std::move(mark), atUs >= 0 ? atUs : MonotonicClock::nowUs());
}

void ConnectionLife::add(Mark mark, qint64 atMonotonicUs)
{
    if (m_timeline.marks.size() >= MaxMarks && mark.kind != Mark::Kind::Closed) {
        ++m_timeline.unmarked;
        return;
    }
    mark.atUs = atMonotonicUs - m_originUs;
    // Nearly always the latest; a stall is marked when it ends, at its start.
    qsizetype at = m_timeline.marks.size();
    while (at > 0 && m_timeline.marks.at(at - 1).atUs > mark.atUs)
        --at;
    if (at == m_timeline.marks.size())
        m_timeline.marks.append(std::move(mark));
    else
        m_timeline.marks.insert(at, std::move(mark));
}

bool ConnectionLife::noted(const Flow &flow, const FlowResult &result)
{
    bool marked = false;
    if (result.has(FlowResult::FirstBytes)) {
        add({0, Mark::Kind::FirstByte, laneOf(flow.from()), 0, QString()}, flow.lastReadUs());
        marked = true;
    }
    if (result.has(FlowResult::Waited) && waited(flow.to(), result.waitSinceUs, result.waitUntilUs))
        marked = true;
    return marked;
}

bool ConnectionLife::waited(Side toward, qint64 sinceUs, qint64 untilUs)
{
    if (untilUs - sinceUs < StallMarkUs)
        return false;
    if (m_markedStalls >= MaxMarkedStalls) {
        ++m_timeline.unmarked;
        return false;
    }
    ++m_markedStalls;
    add({0, Mark::Kind::StallStart, laneOf(toward), 0, QString()}, sinceUs);
    add({0, Mark::Kind::StallEnd, laneOf(toward), 0, QString()}, untilUs);
    return true;
}

void ConnectionLife::endsWhileWaiting(Side toward, qint64 sinceUs, qint64 nowUs)
{
    if (sinceUs >= 0 && nowUs - sinceUs >= StallMarkUs && m_markedStalls < MaxMarkedStalls)
        add({0, Mark::Kind::StallStart, laneOf(toward), 0, QString()}, sinceUs);
}

void ConnectionLife::fill(ConnectionTimeline *timeline, const Flow &up, const Flow &down, qint64 nowUs) const
{
    for (const Flow *flow : {&up, &down}) {
        const int direction = flow->fromClient() ? 0 : 1;
        timeline->lastByteUs[direction] = flow->lastReadUs() >= 0 ? flow->lastReadUs() - m_originUs : -1;
        qint64 waited = flow->waitedUs();
        if (flow->waitingSinceUs() >= 0) {
            waited += qMax<qint64>(0, nowUs - flow->waitingSinceUs());
            timeline->waitingSinceUs[direction] = flow->waitingSinceUs() - m_originUs;
        }
        timeline->waitedUs[direction] = waited;
    }
    const qint64 lastMark = timeline->marks.isEmpty() ? 0 : timeline->marks.constLast().atUs;
    timeline->sampledUs = qMax(nowUs - m_originUs, lastMark);
}
