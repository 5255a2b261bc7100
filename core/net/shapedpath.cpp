#include "shapedpath.h"

#include "flow.h"
#include "leg.h"
#include "legreader.h"
#include "legwriter.h"

#include <cerrno>

void ShapedPath::setShaper(std::unique_ptr<FlowShaper> shaper)
{
    m_shaper = std::move(shaper);
    if (m_shaper) {
        if (!m_flow.m_buffer.isEmpty())
            m_shaper->heldAlready(m_flow.m_buffer.size(), m_flow.nowUs());
    } else {
        stop();
        m_finHeld = false;
    }
}

void ShapedPath::setDiscarding(bool discarding)
{
    m_discarding = discarding;
}

bool ShapedPath::resume()
{
    if (!m_discarding && m_endSwallowed) {
        // The FIN the hole kept passes now.
        m_endSwallowed = false;
        if (m_shaper) {
            m_shaper->endArrived(m_flow.nowUs());
            m_finHeld = true;
        }
        m_flow.sourceEnded();
        if (m_flow.pending())
            deliver();
        return true;
    }
    return limitReached();
}

void ShapedPath::setLimit(int limiter, quint64 total)
{
    m_limits[limiter] = total;
    m_limitReported[limiter] = false;
}

bool ShapedPath::limitReached()
{
    quint8 met = 0;
    for (int limiter = 0; limiter < Limiters; ++limiter) {
        if (m_limits[limiter] == NoLimit || m_flow.m_delivered < m_limits[limiter] || m_limitReported[limiter])
            continue;
        m_limitReported[limiter] = true;
        met |= quint8(1 << limiter);
    }
    if (met == 0)
        return false;
    m_flow.report(FlowResult::LimitReached);
    m_flow.m_result.limitsMet |= met;
    return true;
}

void ShapedPath::arrived(qsizetype length)
{
    if (m_shaper)
        m_shaper->arrived(length, m_flow.nowUs());
}

void ShapedPath::endArrived()
{
    if (!m_shaper || m_finHeld)
        return;
    const qint64 now = m_flow.nowUs();
    m_shaper->endArrived(now);
    m_finHeld = true;
    // Bytes held bring the FIN's turn as they go (deliver()); without
    // any, its own time does.
    if (!m_flow.m_buffer.isEmpty())
        return;
    qint64 wakeUs = -1;
    if (m_shaper->endDue(now, &wakeUs))
        m_finHeld = false;
    else
        wakeAt(wakeUs);
}

void ShapedPath::heldDropped()
{
    if (m_shaper && !m_flow.m_buffer.isEmpty())
        m_shaper->dropHeld();
}

void ShapedPath::stop()
{
    if (m_flow.m_shared.timers && m_flow.m_wakeTimer)
        m_flow.m_shared.timers->cancel(m_flow.m_wakeTimer);
}

void ShapedPath::wakeAt(qint64 dueUs)
{
    Q_ASSERT(m_flow.m_wakeTimer);
    if (dueUs >= 0 && m_flow.m_wakeTimer)
        m_flow.m_shared.timers->schedule(m_flow.m_wakeTimer, dueUs);
}

void ShapedPath::wake()
{
    if (m_flow.m_stopped || !m_flow.m_pipe.isEmpty())
        return;
    // The source is read again only if it was left unread for lack of
    // room: one that was read dry raises its own edge, and a read that
    // only proves it empty cost a system call per delayed message.
    if (deliver() && m_flow.m_sourceLeft)
        m_flow.pumpSource();
}

qsizetype ShapedPath::room() const
{
    const qsizetype capacity = m_flow.m_shared.capacity;
    if (m_discarding)
        return capacity;
    const qsizetype held = m_flow.m_buffer.size();
    const qsizetype room = capacity - held;
    if ((m_shaper && m_shaper->full()) || room <= 0 || (held > 0 && room < capacity / 4))
        return 0;
    return room;
}

void ShapedPath::pump()
{
    Flow &flow = m_flow;
    if (!flow.m_pipe.isEmpty())
        return; // spliced bytes from before go first (flush)
    // What is held and may go now goes first: a destination that just
    // connected raises no new edge.
    if (!flow.m_buffer.isEmpty() && !deliver())
        return;
    int rounds = Flow::RoundsPerWakeUp;
    const LegReader::Result read = LegReader::read(
        *flow.m_source, flow.m_shared.scratch, &rounds,
        [&] {
            // The source waits (backpressure) while there is no room.
            const qsizetype room = this->room();
            flow.m_sourceLeft = room == 0;
            return room;
        },
        [&](const char *data, qsizetype received) {
            if (flow.sourceRead()) {
                flow.holdFirst(data, received);
                return false;
            }
            if (m_discarding) {
                m_discarded += quint64(received);
                return true;
            }
            flow.show(data, received);
            flow.append(data, received);
            return deliver() && !flow.paused();
        });
    switch (read.outcome) {
    case LegReader::Outcome::Share:
        flow.report(FlowResult::Yield);
        return;
    case LegReader::Outcome::Ended:
        sourceEnded();
        return;
    case LegReader::Outcome::Failed:
        flow.fail(FlowResult::At::Source, read.error);
        return;
    case LegReader::Outcome::Empty:
    case LegReader::Outcome::Stopped:
        return;
    }
}

void ShapedPath::sourceEnded()
{
    if (m_discarding) {
        m_endSwallowed = true;
        return;
    }
    if (m_shaper) {
        m_shaper->endArrived(m_flow.nowUs());
        m_finHeld = true;
    }
    m_flow.sourceEnded();
    // The FIN goes once the bytes before it have, and its own delay has
    // passed.
    if (m_finHeld && m_flow.m_buffer.isEmpty())
        deliver();
}

bool ShapedPath::deliver()
{
    Flow &flow = m_flow;
    if (flow.halted())
        return false;
    if (!flow.m_destination->isOpen() || flow.m_firstHeld)
        return true; // held until the upstream is there, or until resume()
    const qint64 now = flow.nowUs();
    qint64 wakeUs = -1;
    const LegWriter::Result result = LegWriter::write(
        [&] {
            // What the shaper and the limit let go now.
            qint64 allowed = flow.m_buffer.size();
            wakeUs = -1;
            if (m_shaper && allowed > 0)
                allowed = m_shaper->writable(allowed, now, &wakeUs);
            if (const quint64 limit = this->limit(); limit != NoLimit)
                allowed = qMin<qint64>(allowed, qint64(limit - qMin(limit, flow.m_delivered)));
            return qsizetype(allowed);
        },
        [&](qsizetype offered) { return flow.m_destination->write(flow.m_buffer.data(), size_t(offered)); },
        [&](qsizetype written) {
            flow.m_buffer.consume(written);
            flow.m_delivered += quint64(written);
            if (m_shaper)
                m_shaper->wrote(written, now);
            flow.report(FlowResult::Event(FlowResult::Delivered | FlowResult::Moved));
            return !limitReached();
        });
    switch (result.outcome) {
    case LegWriter::Outcome::Stopped: // at the limit
        return false;
    case LegWriter::Outcome::Full:
        // The destination is full: its next edge brings flush().
        flow.waitBegins();
        return true;
    case LegWriter::Outcome::Failed:
        flow.fail(FlowResult::At::Destination, result.error);
        return false;
    case LegWriter::Outcome::Done:
        break;
    }
    if (!flow.m_buffer.isEmpty()) {
        // Held: at the limit, or until the shaper lets more go.
        if (limitReached())
            return false;
        wakeAt(wakeUs);
        return true;
    }
    flow.m_buffer.release();
    flow.waitEnds();
    // A limit met by bytes that went through the pipe (a spliced flow
    // half-closed or closed on purpose) is met here.
    if (limitReached())
        return false;
    if (m_finHeld) {
        qint64 wakeUs = -1;
        if (m_shaper && !m_shaper->endDue(now, &wakeUs)) {
            wakeAt(wakeUs);
            return true;
        }
        m_finHeld = false;
    }
    if (flow.m_eof && !flow.m_shutDown) {
        flow.report(FlowResult::FinDue);
        return false;
    }
    return true;
}
