#include "flow.h"

#include "flowobserver.h"
#include "flowshaper.h"
#include "leg.h"
#include "monotonicclock.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace {

// A bulk flow that an observer watches goes back to copying below this:
// for small messages (keep-alive after a download) a copy costs fewer
// system calls than a peek and two splices.
constexpr int SmallSplice = 4096;
// Reads per wake-up: enough to keep a fast stream moving, few enough not to
// starve the worker's other connections.
constexpr int RoundsPerWakeUp = 8;

} // namespace

Flow::Flow(Side from, Leg &source, Leg &destination, Owner &owner, const Shared &shared)
    : m_from(from)
    , m_source(&source)
    , m_destination(&destination)
    , m_owner(owner)
    , m_shared(shared)
{
}

Flow::~Flow()
{
    release(true);
}

void Flow::pump()
{
    if (m_fed) {
        // Its session reads the source: it is asked for more once there
        // is room for what it could not feed (after the source's FIN too,
        // for bytes the session read before it).
        if (m_sourceLeft && feedRoom() > 0) {
            m_sourceLeft = false;
            m_owner.flowYield(*this);
        }
        return;
    }
    if (m_stopped || m_eof || m_paused || !m_source->isOpen())
        return;
    if (shaped()) {
        pumpShaped();
        return;
    }
    if (pending())
        return;
    const int capacity = m_shared.capacity;
    char *scratch = m_shared.scratch;
    // Edge-triggered: the source raises no new edge until it has been read
    // dry. Only EAGAIN, or the leg's word that nothing is left (drained),
    // proves that; a short read does not: recv() stops at an urgent mark,
    // and a short splice() may have been limited by the pipe's slots (a
    // sendfile()'d stream arrives in many small fragments) while the socket
    // still holds data and its sender waits for room.
    for (int round = 0;; ++round) {
        if (round == RoundsPerWakeUp) {
            m_owner.flowYield(*this);
            return;
        }
        if (m_bulk) {
            const int moved = spliceOnce(capacity);
            if (moved > 0) {
                if (pending() || m_stopped)
                    return;
                if (moved < SmallSplice && watched())
                    m_bulk = false;
                continue;
            }
            if (moved == 0) {
                sourceEnded();
                return;
            }
            if (moved == -1)
                return;
            m_bulk = false; // no pipe: copy instead
        }
        bool drained = false;
        const ssize_t received = m_source->read(scratch, size_t(capacity), &drained);
        if (received > 0) {
            sourceRead();
            if (m_stopped)
                return;
            show(scratch, received);
            // A full buffer means a bulk transfer: from here on the kernel
            // moves the bytes itself, and an observer gets a copy of what it
            // needs (peek).
            if (received == capacity && m_spliceAllowed && m_source->canSplice() && m_destination->canSplice())
                m_bulk = true;
            if (!forward(scratch, received) || pending() || drained)
                return;
            continue;
        }
        if (received == 0) {
            sourceEnded();
            return;
        }
        if (readInterrupted())
            continue;
        return;
    }
}

int Flow::spliceOnce(int capacity)
{
    PipePool &pipes = *m_shared.pipes;
    if (!m_pipe.isValid() && !pipes.take(&m_pipe))
        return -2;
    // What the observer needs of these bytes: nothing (a body past the
    // capture's kept prefix: the bytes never leave the kernel), the first
    // part of them (copied straight into its place), or all of them (heads
    // and framing). The copy is a peek: the splice that follows takes the
    // same bytes from the head of the same queue, and only as many as were
    // seen.
    const bool watching = watched();
    FlowObserver::Window window;
    if (watching)
        window = m_observer->window(fromClient());
    size_t want = size_t(capacity);
    char *copy = nullptr;
    if (window.ahead > 0) {
        want = size_t(qMin<quint64>(want, window.roomBytes > 0 ? quint64(window.roomBytes) : window.ahead));
        copy = window.room;
    } else if (watching) {
        copy = m_shared.scratch;
    }
    ssize_t received = 0;
    if (copy) {
        received = m_source->peek(copy, want);
        if (received > 0)
            want = size_t(received);
    }
    if (!copy || received > 0)
        received = m_source->readToPipe(m_pipe.write, want);
    if (received > 0) {
        sourceRead();
        m_piped = int(received);
        if (window.ahead > 0)
            m_observer->passed(fromClient(), quint64(received));
        else if (copy)
            show(copy, received);
        if (m_stopped || !drainPipe())
            return -1;
        if (m_piped == 0)
            pipes.give(&m_pipe);
        else
            waitBegins();
        return int(received);
    }
    if (window.roomBytes > 0)
        m_observer->passed(fromClient(), 0);
    pipes.give(&m_pipe);
    if (received == 0)
        return 0;
    const int error = errno;
    if (error != EAGAIN && error != EWOULDBLOCK && error != EINTR)
        m_owner.flowFailed(m_from, error);
    return -1;
}

bool Flow::drainPipe()
{
    while (m_piped > 0) {
        const ssize_t n = m_destination->writeFromPipe(m_pipe.read, size_t(m_piped));
        if (n > 0) {
            m_piped -= int(n);
            m_delivered += quint64(n);
            m_owner.flowDelivered();
            continue;
        }
        const int error = errno;
        if (n < 0 && error == EINTR)
            continue;
        if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK))
            return true;
        m_owner.flowFailed(to(), n < 0 ? error : EPIPE);
        return false;
    }
    return true;
}

bool Flow::forward(const char *data, qsizetype length)
{
    if (m_discarding) {
        // The session read them (a sniffed first read): into the hole too.
        m_discarded += quint64(length);
        return true;
    }
    if (shaped()) {
        append(data, length);
        return deliverShaped();
    }
    qsizetype sent = 0;
    if (!sendOrFail(data, length, &sent))
        return false;
    // Keep the rest until the destination can take it, and read no more
    // from the source meanwhile: that is the backpressure.
    if (sent < length)
        keep(data + sent, length - sent);
    return true;
}

void Flow::hold(const char *data, qsizetype length)
{
    if (m_discarding)
        m_discarded += quint64(length);
    else if (shaped() || m_tail > m_head)
        append(data, length);
    else
        keep(data, length);
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
        return shapedRoom();
    return pending() ? 0 : m_shared.capacity;
}

qsizetype Flow::shapedRoom() const
{
    const qsizetype capacity = m_shared.capacity;
    if (m_discarding)
        return capacity;
    const qsizetype held = m_tail - m_head;
    const qsizetype room = capacity - held;
    if ((m_shaper && m_shaper->full()) || room <= 0 || (held > 0 && room < capacity / 4))
        return 0;
    return room;
}

void Flow::keep(const char *data, qsizetype length)
{
    if (m_buffer && m_bufferSize < length) {
        std::free(m_buffer);
        m_buffer = nullptr;
    }
    if (!m_buffer) {
        m_bufferSize = qMax<qsizetype>(length, m_shared.capacity);
        m_buffer = static_cast<char *>(std::malloc(size_t(m_bufferSize)));
    }
    std::memcpy(m_buffer, data, size_t(length));
    m_head = 0;
    m_tail = length;
    waitBegins();
}

bool Flow::sendOrFail(const char *data, qsizetype length, qsizetype *sent)
{
    *sent = 0;
    while (*sent < length) {
        const ssize_t n = m_destination->write(data + *sent, size_t(length - *sent));
        if (n > 0) {
            *sent += n;
            continue;
        }
        const int error = errno;
        if (n < 0 && error == EINTR)
            continue;
        if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK))
            break;
        m_delivered += quint64(*sent);
        m_owner.flowFailed(to(), n < 0 ? error : EPIPE);
        return false;
    }
    m_delivered += quint64(*sent);
    if (*sent > 0)
        m_owner.flowDelivered();
    return true;
}

bool Flow::flush()
{
    if (m_piped > 0) {
        if (!drainPipe())
            return false;
        m_owner.flowActive();
        if (m_piped > 0)
            return true;
        m_shared.pipes->give(&m_pipe);
        if (!pending())
            waitEnds();
    }
    if (shaped()) {
        // Read on whatever the state: a session that read the source
        // itself (a sniffed first read) relies on this, as for a plain
        // flow below.
        if (!deliverShaped())
            return false;
        pump();
        return !m_stopped;
    }
    if (pending()) {
        qsizetype sent = 0;
        if (!sendOrFail(m_buffer + m_head, m_tail - m_head, &sent))
            return false;
        if (sent > 0)
            m_owner.flowActive();
        m_head += sent;
        if (pending())
            return true;
        release(false);
        waitEnds();
    }
    if (m_eof) {
        m_owner.flowFinDue(*this);
        return !m_stopped;
    }
    // The destination drained: read on at once rather than wait for the
    // next round of readiness.
    pump();
    return !m_stopped;
}

bool Flow::readInterrupted()
{
    const int error = errno;
    if (error == EINTR)
        return true;
    if (error != EAGAIN && error != EWOULDBLOCK)
        m_owner.flowFailed(m_from, error);
    return false;
}

void Flow::sourceEnded()
{
    m_owner.flowEnded(*this);
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

void Flow::newDestination()
{
    m_shutDown = false;
    dropHeld();
}

void Flow::markEnded()
{
    m_eof = true;
    if (!m_fed || !m_shaper || m_finHeld || m_stopped)
        return;
    m_shaper->endArrived(nowUs());
    m_finHeld = true;
    // Bytes held bring the FIN's turn as they go (deliverShaped());
    // without any, its own time does.
    if (m_tail > m_head)
        return;
    qint64 wakeUs = -1;
    if (m_shaper->endDue(nowUs(), &wakeUs))
        m_finHeld = false;
    else if (wakeUs >= 0)
        m_shared.timers->schedule(&m_wake, wakeUs);
}

void Flow::dropHeld()
{
    // The shaper timed those bytes: what comes next is timed afresh.
    if (m_shaper && m_tail > m_head)
        m_shaper->dropHeld();
    release(false);
    waitEnds();
}

void Flow::halt()
{
    setPaused(true);
    dropHeld();
}

void Flow::uncountUnacknowledged()
{
    // Bytes count as delivered once handed to the kernel; when the
    // connection fails, what the peer never acknowledged dies in the send
    // queue (the peer is gone, or is about to be reset), so it comes off.
    int unacknowledged = m_destination->unacknowledged();
    if (unacknowledged <= 0)
        return;
    if (m_shutDown)
        --unacknowledged; // the FIN takes a sequence number too
    m_delivered -= qMin(m_delivered, quint64(unacknowledged));
    m_owner.flowDelivered();
}

void Flow::release(bool stop)
{
    // A pipe that still holds bytes cannot serve another flow.
    if (m_piped > 0)
        PipePool::discard(&m_pipe);
    else if (m_pipe.isValid())
        m_shared.pipes->give(&m_pipe);
    m_piped = 0;
    std::free(m_buffer);
    m_buffer = nullptr;
    m_bufferSize = 0;
    m_head = m_tail = 0;
    if (stop) {
        m_stopped = true;
        if (m_shared.timers)
            m_shared.timers->cancel(&m_wake);
        // A wait cut short by the end counts until now; the owner marks
        // it from waitingSinceUs() before it stops the flow, if it cares.
        if (m_waitSinceUs >= 0) {
            m_waitedUs += MonotonicClock::nowUs() - m_waitSinceUs;
            m_waitSinceUs = -1;
        }
    }
}

void Flow::sourceRead()
{
    m_owner.flowActive();
    noteRead();
}

void Flow::noteRead()
{
    if (m_lastReadUs < 0) {
        m_lastReadUs = MonotonicClock::nowUs();
        m_owner.flowFirstBytes(*this);
        return;
    }
    // The wake-up's time: within the batch of events being served, and
    // no clock call per read.
    if (m_shared.wakeUs && *m_shared.wakeUs > m_lastReadUs)
        m_lastReadUs = *m_shared.wakeUs;
}

void Flow::waitBegins()
{
    if (m_waitSinceUs < 0)
        m_waitSinceUs = MonotonicClock::nowUs();
}

void Flow::waitEnds()
{
    if (m_waitSinceUs < 0)
        return;
    const qint64 since = m_waitSinceUs;
    const qint64 now = MonotonicClock::nowUs();
    m_waitSinceUs = -1;
    m_waitedUs += now - since;
    m_owner.flowWaited(*this, since, now);
}

bool Flow::watched() const
{
    return m_observer && m_observer->watching(fromClient());
}

void Flow::show(const char *data, qsizetype size)
{
    if (watched())
        m_observer->seen(fromClient(), data, size);
}

qint64 Flow::nowUs() const
{
    return m_shared.wakeUs ? *m_shared.wakeUs : MonotonicClock::nowUs();
}

void Flow::setShaper(std::unique_ptr<FlowShaper> shaper)
{
    if (m_stopped)
        return;
    m_shaper = std::move(shaper);
    m_bulk = false;
    if (m_shaper) {
        if (m_tail > m_head)
            m_shaper->heldAlready(m_tail - m_head, nowUs());
    } else {
        m_shared.timers->cancel(&m_wake);
        m_finHeld = false;
    }
    kick();
}

void Flow::setPaused(bool paused)
{
    m_paused = paused;
    if (!paused && !m_stopped)
        kick();
}

void Flow::setDiscarding(bool discarding)
{
    if (m_stopped || m_discarding == discarding)
        return;
    m_discarding = discarding;
    m_bulk = false;
    if (!discarding && m_endSwallowed) {
        // The FIN the hole kept passes now.
        m_endSwallowed = false;
        if (m_shaper) {
            m_shaper->endArrived(nowUs());
            m_finHeld = true;
        }
        sourceEnded();
        if (!m_stopped && pending())
            deliverShaped();
        return;
    }
    kick();
}

void Flow::setDeliveryLimit(quint64 total)
{
    if (m_stopped)
        return;
    m_limit = total;
    m_limitReported = false;
    m_bulk = false;
    if (!limitReached())
        kick();
}

bool Flow::limitReached()
{
    if (m_limit == NoLimit || m_delivered < m_limit || m_limitReported)
        return false;
    m_limitReported = true;
    m_owner.flowLimitReached(*this);
    return true;
}

void Flow::kick()
{
    // The pipe drains first, on the destination's next edge; a destination
    // not connected yet takes nothing.
    if (m_stopped || m_piped > 0 || !m_destination->isOpen())
        return;
    if (pending())
        flush();
    else if (m_eof && !m_shutDown)
        m_owner.flowFinDue(*this);
}

void Flow::wake()
{
    if (m_stopped || m_piped > 0)
        return;
    // The source is read again only if it was left unread for lack of
    // room: one that was read dry raises its own edge, and a read that
    // only proves it empty cost a system call per delayed message.
    if (deliverShaped() && m_sourceLeft)
        pump();
}

void Flow::makeRoom(qint64 wanted)
{
    if (m_head == m_tail)
        m_head = m_tail = 0;
    if (m_bufferSize - m_tail >= wanted)
        return;
    // Moving what is held to the front is rare: a shaped flow reads only
    // once a quarter of its buffer is free (pumpShaped()).
    const qint64 held = m_tail - m_head;
    if (m_head > 0) {
        std::memmove(m_buffer, m_buffer + m_head, size_t(held));
        m_head = 0;
        m_tail = held;
        if (m_bufferSize - m_tail >= wanted)
            return;
    }
    // Grown by doubling from a page: a flow of small delayed messages
    // holds a little, a throttled bulk transfer its whole buffer.
    qsizetype size = qMax<qsizetype>(4096, m_bufferSize * 2);
    while (size < m_tail + wanted)
        size *= 2;
    m_buffer = static_cast<char *>(std::realloc(m_buffer, size_t(size)));
    m_bufferSize = size;
}

void Flow::append(const char *data, qsizetype length)
{
    if (length <= 0)
        return;
    makeRoom(length);
    std::memcpy(m_buffer + m_tail, data, size_t(length));
    m_tail += length;
    if (m_shaper)
        m_shaper->arrived(length, nowUs());
}

void Flow::pumpShaped()
{
    if (m_piped > 0)
        return; // spliced bytes from before go first (flush)
    // What is held and may go now goes first: a destination that just
    // connected raises no new edge.
    if (m_tail > m_head && (!deliverShaped() || m_stopped))
        return;
    char *scratch = m_shared.scratch;
    for (int round = 0;; ++round) {
        if (round == RoundsPerWakeUp) {
            m_owner.flowYield(*this);
            return;
        }
        // The source waits (backpressure) while there is no room.
        const qsizetype room = shapedRoom();
        if (room == 0) {
            m_sourceLeft = true;
            return;
        }
        m_sourceLeft = false;
        bool drained = false;
        const ssize_t received = m_source->read(scratch, size_t(room), &drained);
        if (received > 0) {
            sourceRead();
            if (m_stopped)
                return;
            if (m_discarding) {
                m_discarded += quint64(received);
            } else {
                show(scratch, received);
                append(scratch, received);
                if (!deliverShaped() || m_stopped || m_paused)
                    return;
            }
            if (drained)
                return;
            continue;
        }
        if (received == 0) {
            if (m_discarding) {
                m_endSwallowed = true;
                return;
            }
            if (m_shaper) {
                m_shaper->endArrived(nowUs());
                m_finHeld = true;
            }
            sourceEnded();
            // The FIN goes once the bytes before it have, and its own
            // delay has passed.
            if (!m_stopped && m_finHeld && m_tail == m_head)
                deliverShaped();
            return;
        }
        if (readInterrupted())
            continue;
        return;
    }
}

bool Flow::deliverShaped()
{
    if (!m_destination->isOpen())
        return true; // held until the upstream is there
    const qint64 now = nowUs();
    while (m_tail > m_head) {
        qint64 allowed = m_tail - m_head;
        qint64 wakeUs = -1;
        if (m_shaper)
            allowed = m_shaper->writable(allowed, now, &wakeUs);
        if (m_limit != NoLimit)
            allowed = qMin<qint64>(allowed, qint64(m_limit - qMin(m_limit, m_delivered)));
        if (allowed <= 0) {
            if (limitReached())
                return !m_stopped;
            if (wakeUs >= 0)
                m_shared.timers->schedule(&m_wake, wakeUs);
            return true;
        }
        const ssize_t n = m_destination->write(m_buffer + m_head, size_t(allowed));
        if (n > 0) {
            m_head += n;
            m_delivered += quint64(n);
            if (m_shaper)
                m_shaper->wrote(n, now);
            m_owner.flowDelivered();
            m_owner.flowActive();
            if (limitReached())
                return !m_stopped;
            continue;
        }
        const int error = errno;
        if (n < 0 && error == EINTR)
            continue;
        if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK)) {
            // The destination is full: its next edge brings flush().
            waitBegins();
            return true;
        }
        m_owner.flowFailed(to(), n < 0 ? error : EPIPE);
        return false;
    }
    if (m_buffer) {
        std::free(m_buffer);
        m_buffer = nullptr;
        m_bufferSize = 0;
        m_head = m_tail = 0;
    }
    waitEnds();
    // A limit met by bytes that went through the pipe (a spliced flow
    // half-closed or closed on purpose) is met here.
    if (limitReached())
        return !m_stopped;
    if (m_finHeld) {
        qint64 wakeUs = -1;
        if (m_shaper && !m_shaper->endDue(now, &wakeUs)) {
            if (wakeUs >= 0)
                m_shared.timers->schedule(&m_wake, wakeUs);
            return true;
        }
        m_finHeld = false;
    }
    if (m_eof && !m_shutDown) {
        m_owner.flowFinDue(*this);
        return !m_stopped;
    }
    return true;
}
