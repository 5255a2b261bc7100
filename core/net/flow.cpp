#include "flow.h"

#include "flowobserver.h"
#include "flowshaper.h"
#include "leg.h"
#include "legreader.h"
#include "legwriter.h"
#include "monotonicclock.h"
#include "splicedpath.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

Flow::Flow(Side from, Leg &source, Leg &destination, const Shared &shared, TimerHeap::Timer *wake)
    : m_from(from)
    , m_source(&source)
    , m_destination(&destination)
    , m_shared(shared)
    , m_wakeTimer(wake)
{
}

Flow::~Flow()
{
    release(true);
}

FlowResult Flow::take()
{
    const FlowResult result = m_result;
    m_result = FlowResult();
    return result;
}

void Flow::fail(FlowResult::At at, int error)
{
    report(FlowResult::Failed);
    m_result.failedAt = at;
    m_result.error = error;
}

FlowResult Flow::pump()
{
    pumpSource();
    return take();
}

FlowResult Flow::flush()
{
    flushDestination();
    return take();
}

FlowResult Flow::forward(const char *data, qsizetype length)
{
    sendOn(data, length);
    return take();
}

FlowResult Flow::wake()
{
    if (m_path && !m_stopped)
        m_path->wake();
    return take();
}

FlowResult Flow::resume()
{
    if (m_stopped)
        return take();
    if (m_firstHeld)
        releaseFirst();
    if (!halted() && !(m_path && m_path->resume()))
        kick();
    return take();
}

void Flow::pumpSource()
{
    if (m_fed) {
        // Its session reads the source: it is asked for more once there
        // is room for what it could not feed (after the source's FIN too,
        // for bytes the session read before it).
        if (m_sourceLeft && feedRoom() > 0) {
            m_sourceLeft = false;
            report(FlowResult::Yield);
        }
        return;
    }
    if (halted() || m_eof || m_holders || m_firstHeld || !m_source->isOpen())
        return;
    if (shaped()) {
        m_path->pump();
        return;
    }
    if (pending())
        return;
    // Until the source is proven empty (LegReader), the destination is
    // full, or a wake-up's share of reads is used, splices and copies
    // sharing it.
    const int capacity = m_shared.capacity;
    int rounds = RoundsPerWakeUp;
    for (;;) {
        if (m_bulk && !SplicedPath(*this).pump(&rounds))
            return;
        const LegReader::Result read = LegReader::read(
            *m_source, m_shared.scratch, &rounds, [capacity] { return qsizetype(capacity); },
            [this, capacity](const char *data, qsizetype received) { return copied(data, received, capacity); });
        switch (read.outcome) {
        case LegReader::Outcome::Stopped:
            if (m_bulk && !halted() && !pending())
                continue; // a full read: splice from here on
            return;
        case LegReader::Outcome::Share:
            report(FlowResult::Yield);
            return;
        case LegReader::Outcome::Ended:
            sourceEnded();
            return;
        case LegReader::Outcome::Failed:
            fail(FlowResult::At::Source, read.error);
            return;
        case LegReader::Outcome::Empty:
            return;
        }
    }
}

bool Flow::copied(const char *data, qsizetype received, int capacity)
{
    if (sourceRead()) {
        holdFirst(data, received);
        return false;
    }
    show(data, received);
    // A full buffer means a bulk transfer: from here on the kernel moves
    // the bytes itself, and an observer gets a copy of what it needs
    // (peek).
    if (received == capacity && m_spliceAllowed && m_source->canSplice() && m_destination->canSplice())
        m_bulk = true;
    sendOn(data, received);
    return !halted() && !pending() && !m_bulk;
}

void Flow::sendOn(const char *data, qsizetype length)
{
    if (discarding()) {
        // The session read them (a sniffed first read): into the hole too.
        m_path->swallowed(quint64(length));
        return;
    }
    if (shaped() || !m_buffer.isEmpty()) {
        // Behind bytes held (a limit lifted in the middle of a read), or
        // timed: they go in their turn.
        append(data, length);
        if (shaped())
            m_path->deliver();
        else
            sendBuffer();
        return;
    }
    qsizetype sent = 0;
    if (!sendOrFail(data, length, &sent))
        return;
    // Keep the rest until the destination can take it, and read no more
    // from the source meanwhile: that is the backpressure.
    if (sent < length)
        keep(data + sent, length - sent);
}

void Flow::hold(const char *data, qsizetype length)
{
    if (discarding())
        m_path->swallowed(quint64(length));
    else if (shaped() || !m_buffer.isEmpty())
        append(data, length);
    else
        keep(data, length);
}

void Flow::keep(const char *data, qsizetype length)
{
    m_buffer.keep(data, length, m_shared.capacity);
    waitBegins();
}

void Flow::holdFirst(const char *data, qsizetype length)
{
    // Not a wait for the destination: nothing has been offered it yet.
    m_firstHeld = true;
    m_buffer.keep(data, length, m_shared.capacity);
}

void Flow::releaseFirst()
{
    m_firstHeld = false;
    if (m_buffer.isEmpty())
        return;
    // Shown and sent now, as the read would have done: the scratch buffer
    // is free between calls, and the bytes came from one read of it.
    const qsizetype length = m_buffer.size();
    char *scratch = m_shared.scratch;
    std::memcpy(scratch, m_buffer.data(), size_t(length));
    m_buffer.release();
    show(scratch, length);
    sendOn(scratch, length);
}

void Flow::append(const char *data, qsizetype length)
{
    if (length <= 0)
        return;
    m_buffer.append(data, length);
    if (m_path)
        m_path->arrived(length);
}

qsizetype Flow::roomToFeed()
{
    const qsizetype room = feedRoom();
    if (room == 0)
        m_sourceLeft = true;
    return room;
}

qsizetype Flow::feedRoom() const
{
    if (m_stopped)
        return 0;
    if (shaped())
        return m_path->room();
    return pending() ? 0 : m_shared.capacity;
}

bool Flow::sendOrFail(const char *data, qsizetype length, qsizetype *sent)
{
    *sent = 0;
    const LegWriter::Result result = LegWriter::write(
        [&] { return length - *sent; },
        [&](qsizetype offered) { return m_destination->write(data + *sent, size_t(offered)); },
        [&](qsizetype written) {
            *sent += written;
            return true;
        });
    m_delivered += quint64(*sent);
    if (result.outcome == LegWriter::Outcome::Failed) {
        fail(FlowResult::At::Destination, result.error);
        return false;
    }
    if (*sent > 0)
        report(FlowResult::Delivered);
    return true;
}

void Flow::flushDestination()
{
    if (m_stopped || m_firstHeld)
        return;
    if (!m_pipe.isEmpty()) {
        if (!SplicedPath(*this).drain())
            return;
        report(FlowResult::Moved);
        if (!m_pipe.isEmpty())
            return;
        m_pipe.giveBackIfEmpty(*m_shared.pipes);
        if (!pending())
            waitEnds();
    }
    if (shaped()) {
        // Read on whatever the state: a session that read the source
        // itself (a sniffed first read) relies on this, as for a plain
        // flow below.
        if (m_path->deliver())
            pumpSource();
        return;
    }
    if (pending() && (!sendBuffer() || pending()))
        return;
    if (m_eof) {
        report(FlowResult::FinDue);
        return;
    }
    // The destination drained: read on at once rather than wait for the
    // next round of readiness.
    pumpSource();
}

bool Flow::sendBuffer()
{
    qsizetype sent = 0;
    if (!sendOrFail(m_buffer.data(), m_buffer.size(), &sent))
        return false;
    if (sent > 0)
        report(FlowResult::Moved);
    m_buffer.consume(sent);
    if (!m_buffer.isEmpty())
        return true;
    // Only the buffer goes: spliced bytes still in the pipe keep their
    // place, and keep the destination's wait going.
    m_buffer.release();
    m_pipe.giveBackIfEmpty(*m_shared.pipes);
    if (!pending())
        waitEnds();
    return true;
}

void Flow::sourceEnded()
{
    // Not marked ended here: the owner does that (markEnded()), unless
    // the source is to be replaced (an HTTP proxy's next upstream).
    report(FlowResult::Ended);
}

void Flow::setSpliceAllowed(bool allowed)
{
    m_spliceAllowed = allowed;
    // Bytes already in the pipe still go first (pending()); the next read
    // is a copy, seen whole.
    if (!allowed)
        m_bulk = false;
}

void Flow::replaceLeg(const Leg &old, Leg &replacement)
{
    if (m_source == &old)
        m_source = &replacement;
    if (m_destination == &old)
        m_destination = &replacement;
    // A bulk transfer splices; the new leg may not.
    m_bulk = false;
}

FlowResult Flow::newDestination()
{
    m_shutDown = false;
    return dropHeld();
}

void Flow::markEnded()
{
    const bool first = !m_eof;
    m_eof = true;
    if (first && m_observer)
        m_observer->ended(fromClient());
    if (m_fed && m_path && !m_stopped)
        m_path->endArrived();
}

FlowResult Flow::dropHeld()
{
    // The shaper timed those bytes: what comes next is timed afresh.
    if (m_path)
        m_path->heldDropped();
    m_firstHeld = false;
    release(false);
    waitEnds();
    return take();
}

FlowResult Flow::halt()
{
    hold(Halted);
    return dropHeld();
}

bool Flow::uncountUnacknowledged()
{
    // Bytes count as delivered once handed to the kernel; when the
    // connection fails, what the peer never acknowledged dies in the send
    // queue (the peer is gone, or is about to be reset), so it comes off.
    int unacknowledged = m_destination->unacknowledged();
    if (unacknowledged <= 0)
        return false;
    if (m_shutDown)
        --unacknowledged; // the FIN takes a sequence number too
    m_delivered -= qMin(m_delivered, quint64(unacknowledged));
    return true;
}

void Flow::release(bool stop)
{
    m_pipe.release(*m_shared.pipes);
    m_buffer.release();
    if (stop) {
        m_stopped = true;
        if (m_path)
            m_path->stop();
        // A wait cut short by the end counts until now; the owner marks
        // it from waitingSinceUs() before it stops the flow, if it cares.
        qint64 since = 0;
        m_wait.end(MonotonicClock::nowUs(), &since);
    }
}

bool Flow::sourceRead()
{
    report(FlowResult::Moved);
    const bool first = m_lastReadUs < 0;
    noteReadTime();
    if (!first || !m_holdFirst)
        return false;
    report(FlowResult::FirstHeld);
    return true;
}

FlowResult Flow::noteRead()
{
    noteReadTime();
    return take();
}

void Flow::noteReadTime()
{
    if (m_lastReadUs < 0) {
        m_lastReadUs = MonotonicClock::nowUs();
        report(FlowResult::FirstBytes);
        return;
    }
    // The wake-up's time: within the batch of events being served, and
    // no clock call per read.
    if (m_shared.wakeUs && *m_shared.wakeUs > m_lastReadUs)
        m_lastReadUs = *m_shared.wakeUs;
}

void Flow::waitEnds()
{
    const qint64 now = MonotonicClock::nowUs();
    qint64 since = 0;
    if (!m_wait.end(now, &since))
        return;
    if (!m_result.has(FlowResult::Waited))
        m_result.waitSinceUs = since;
    m_result.waitUntilUs = now;
    report(FlowResult::Waited);
}

void Flow::show(const char *data, qsizetype size)
{
    if (!watched())
        return;
    // The filters' answer is their limit from here on. A flow held by a
    // half-close or a clean close reads its source no more, so no answer
    // puts back a stop those lifted.
    takeFilterStop(m_observer->seen(fromClient(), data, size).at);
}

qint64 Flow::nowUs() const
{
    return m_shared.wakeUs ? *m_shared.wakeUs : MonotonicClock::nowUs();
}

ShapedPath &Flow::path()
{
    if (!m_path)
        m_path = std::make_unique<ShapedPath>(*this);
    return *m_path;
}

void Flow::setShaper(std::unique_ptr<FlowShaper> shaper)
{
    if (m_stopped)
        return;
    m_bulk = false;
    if (shaper || m_path)
        path().setShaper(std::move(shaper));
}

void Flow::setDiscarding(bool discarding)
{
    if (m_stopped || this->discarding() == discarding)
        return;
    m_bulk = false;
    path().setDiscarding(discarding);
}

void Flow::setDeliveryLimit(quint64 total, Limiter by)
{
    if (m_stopped)
        return;
    m_bulk = false;
    if (total != NoLimit || m_path)
        path().setLimit(by, total);
}

void Flow::kick()
{
    // The pipe drains first, on the destination's next edge; a destination
    // not connected yet takes nothing.
    if (m_stopped || m_firstHeld || !m_pipe.isEmpty() || !m_destination->isOpen())
        return;
    if (pending())
        flushDestination();
    else if (m_eof && !m_shutDown)
        report(FlowResult::FinDue);
}
