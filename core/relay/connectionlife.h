#pragma once

#include "connectionrecord.h"
#include "flow.h"

// One connection's life as its timeline tells it: marks on the client's,
// the upstream's and the connection's lanes, timed from the accept, kept
// in time order and bounded; waits for a destination long enough to
// matter, marked as stalls a bounded number of times; and what the flows
// measured, filled into a copy of the timeline. It writes the record's
// timeline (and the record's opening and close) and tells no one: the
// connection marks its record dirty.
class ConnectionLife
{
public:
    using Side = Flow::Side;
    using Mark = TimelineMark;

    // The accept is now: record is a new connection's, id its number.
    ConnectionLife(ConnectionRecord &record, quint64 id);

    // Monotonic µs at the accept: every mark counts from here.
    const qint64 &originUs() const { return m_originUs; }
    static Mark::Lane laneOf(Side side) { return side == Flow::Client ? Mark::Lane::Client : Mark::Lane::Upstream; }

    // The connection is half-closed from side's end from now (its FIN
    // read, or an HTTP proxy closing toward the client): the first such
    // side says how it ended, and starts the half-close timeout.
    void halfClosed(Side side);
    bool isHalfClosed() const { return m_halfClosed; }
    Side firstFin() const { return m_firstFin; }
    // The connection ended at nowUs (monotonic): why is for display.
    void closed(ConnectionRecord::CloseReason reason, const QString &why, qint64 nowUs);
    // A mark, timed at atUs (monotonic), or now when atUs is negative.
    void mark(Mark::Kind kind, Mark::Lane lane, qint32 code, const QString &note, qint64 atUs = -1);
    void add(Mark mark, qint64 atMonotonicUs);
    // What a call on flow met that the timeline tells: its first bytes, a
    // wait for its destination long enough to mark. True when it marked.
    bool noted(const Flow &flow, const FlowResult &result);
    // The connection ends at nowUs while bytes wait toward's side since
    // sinceUs: a long wait's start is marked.
    void endsWhileWaiting(Side toward, qint64 sinceUs, qint64 nowUs);
    // What the flows measured until nowUs (monotonic), into a copy of the
    // timeline.
    void fill(ConnectionTimeline *timeline, const Flow &up, const Flow &down, qint64 nowUs) const;

private:
    // Bytes waited for toward's side from sinceUs to untilUs (monotonic):
    // true when that was long enough to mark, and marked.
    bool waited(Side toward, qint64 sinceUs, qint64 untilUs);
    ConnectionRecord &m_record;
    ConnectionTimeline &m_timeline;
    qint64 m_originUs;
    int m_markedStalls = 0;
    Side m_firstFin = Flow::Client;
    bool m_halfClosed = false;
};
