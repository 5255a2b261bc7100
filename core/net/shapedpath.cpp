#include "shapedpath.h"

#include "flow.h"
#include "leg.h"

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

bool ShapedPath::setDiscarding(bool discarding)
{
    m_discarding = discarding;
    if (discarding || !m_endSwallowed)
        return false;
    // The FIN the hole kept passes now.
    m_endSwallowed = false;
    if (m_shaper) {
        m_shaper->endArrived(m_flow.nowUs());
        m_finHeld = true;
    }
    m_flow.sourceEnded();
    if (!m_flow.m_stopped && m_flow.pending())
        deliver();
    return true;
}

void ShapedPath::setLimit(quint64 total)
{
    m_limit = total;
    m_limitReported = false;
}

bool ShapedPath::limitReached()
{
    if (m_limit == NoLimit || m_flow.m_delivered < m_limit || m_limitReported)
        return false;
    m_limitReported = true;
    m_flow.m_owner.flowLimitReached(m_flow);
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
    if (m_flow.m_shared.timers)
        m_flow.m_shared.timers->cancel(&m_wake);
}

void ShapedPath::wakeAt(qint64 dueUs)
{
    if (dueUs >= 0)
        m_flow.m_shared.timers->schedule(&m_wake, dueUs);
}

void ShapedPath::wake()
{
    if (m_flow.m_stopped || !m_flow.m_pipe.isEmpty())
        return;
    // The source is read again only if it was left unread for lack of
    // room: one that was read dry raises its own edge, and a read that
    // only proves it empty cost a system call per delayed message.
    if (deliver() && m_flow.m_sourceLeft)
        m_flow.pump();
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
    if (!flow.m_buffer.isEmpty() && (!deliver() || flow.m_stopped))
        return;
    char *scratch = flow.m_shared.scratch;
    for (int round = 0;; ++round) {
        if (round == Flow::RoundsPerWakeUp) {
            flow.m_owner.flowYield(flow);
            return;
        }
        // The source waits (backpressure) while there is no room.
        const qsizetype room = this->room();
        if (room == 0) {
            flow.m_sourceLeft = true;
            return;
        }
        flow.m_sourceLeft = false;
        bool drained = false;
        const ssize_t received = flow.m_source->read(scratch, size_t(room), &drained);
        if (received > 0) {
            flow.sourceRead();
            if (flow.m_stopped)
                return;
            if (m_discarding) {
                m_discarded += quint64(received);
            } else {
                flow.show(scratch, received);
                flow.append(scratch, received);
                if (!deliver() || flow.m_stopped || flow.m_paused)
                    return;
            }
            if (drained)
                return;
            continue;
        }
        if (received == 0) {
            sourceEnded();
            return;
        }
        if (flow.readInterrupted())
            continue;
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
    if (!m_flow.m_stopped && m_finHeld && m_flow.m_buffer.isEmpty())
        deliver();
}

bool ShapedPath::deliver()
{
    Flow &flow = m_flow;
    if (!flow.m_destination->isOpen())
        return true; // held until the upstream is there
    const qint64 now = flow.nowUs();
    while (!flow.m_buffer.isEmpty()) {
        qint64 allowed = flow.m_buffer.size();
        qint64 wakeUs = -1;
        if (m_shaper)
            allowed = m_shaper->writable(allowed, now, &wakeUs);
        if (m_limit != NoLimit)
            allowed = qMin<qint64>(allowed, qint64(m_limit - qMin(m_limit, flow.m_delivered)));
        if (allowed <= 0) {
            if (limitReached())
                return !flow.m_stopped;
            wakeAt(wakeUs);
            return true;
        }
        const ssize_t n = flow.m_destination->write(flow.m_buffer.data(), size_t(allowed));
        if (n > 0) {
            flow.m_buffer.consume(n);
            flow.m_delivered += quint64(n);
            if (m_shaper)
                m_shaper->wrote(n, now);
            flow.m_owner.flowDelivered();
            flow.m_owner.flowActive();
            if (limitReached())
                return !flow.m_stopped;
            continue;
        }
        const int error = errno;
        if (n < 0 && error == EINTR)
            continue;
        if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK)) {
            // The destination is full: its next edge brings flush().
            flow.waitBegins();
            return true;
        }
        flow.m_owner.flowFailed(flow.to(), n < 0 ? error : EPIPE);
        return false;
    }
    flow.m_buffer.release();
    flow.waitEnds();
    // A limit met by bytes that went through the pipe (a spliced flow
    // half-closed or closed on purpose) is met here.
    if (limitReached())
        return !flow.m_stopped;
    if (m_finHeld) {
        qint64 wakeUs = -1;
        if (m_shaper && !m_shaper->endDue(now, &wakeUs)) {
            wakeAt(wakeUs);
            return true;
        }
        m_finHeld = false;
    }
    if (flow.m_eof && !flow.m_shutDown) {
        flow.m_owner.flowFinDue(flow);
        return !flow.m_stopped;
    }
    return true;
}
