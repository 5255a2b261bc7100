#include "splicedpath.h"

#include "flow.h"
#include "flowobserver.h"
#include "leg.h"

#include <cerrno>

namespace {

// A bulk flow that an observer watches goes back to copying below this:
// for small messages (keep-alive after a download) a copy costs fewer
// system calls than a peek and two splices.
constexpr int SmallSplice = 4096;

} // namespace

bool SplicedPath::pump(int *rounds)
{
    Flow &flow = m_flow;
    // A short splice() proves nothing (the pipe's slots may have limited
    // it while the socket still holds data): only a would-block does.
    while (*rounds > 0) {
        --*rounds;
        const int moved = once(flow.m_shared.capacity);
        if (moved > 0) {
            if (flow.pending() || flow.halted())
                return false;
            if (moved < SmallSplice && flow.watched()) {
                flow.m_bulk = false;
                return true;
            }
            continue;
        }
        if (moved == 0) {
            flow.sourceEnded();
            return false;
        }
        if (moved == -1)
            return false;
        // No pipe to be had: this round copies instead.
        ++*rounds;
        flow.m_bulk = false;
        return true;
    }
    flow.report(FlowResult::Yield);
    return false;
}

int SplicedPath::once(int capacity)
{
    Flow &flow = m_flow;
    PipePool &pipes = *flow.m_shared.pipes;
    if (!flow.m_pipe.borrow(pipes))
        return -2;
    // What the observer needs of these bytes: nothing (a body past the
    // capture's kept prefix: the bytes never leave the kernel), the first
    // part of them (copied straight into its place), or all of them (heads
    // and framing). The copy is a peek: the splice that follows takes the
    // same bytes from the head of the same queue, and only as many as were
    // seen.
    const bool watching = flow.watched();
    FlowObserver::Window window;
    if (watching)
        window = flow.m_observer->window(flow.fromClient());
    size_t want = size_t(capacity);
    char *copy = nullptr;
    if (window.ahead > 0) {
        want = size_t(qMin<quint64>(want, window.roomBytes > 0 ? quint64(window.roomBytes) : window.ahead));
        copy = window.room;
    } else if (watching) {
        copy = flow.m_shared.scratch;
    }
    ssize_t received = 0;
    if (copy) {
        received = flow.m_source->peek(copy, want);
        if (received > 0)
            want = size_t(received);
    }
    if (!copy || received > 0)
        received = flow.m_pipe.fill(*flow.m_source, want);
    if (received > 0) {
        // Never the first bytes: a flow turns bulk after a read.
        flow.sourceRead();
        if (window.ahead > 0)
            flow.m_observer->passed(flow.fromClient(), quint64(received));
        else if (copy)
            flow.show(copy, received);
        if (flow.m_stopped || !drain())
            return -1;
        flow.m_pipe.giveBackIfEmpty(pipes);
        if (!flow.m_pipe.isEmpty())
            flow.waitBegins(); // the destination is full
        return int(received);
    }
    if (window.roomBytes > 0)
        flow.m_observer->passed(flow.fromClient(), 0);
    flow.m_pipe.giveBackIfEmpty(pipes);
    if (received == 0)
        return 0;
    const int error = errno;
    if (error != EAGAIN && error != EWOULDBLOCK && error != EINTR)
        flow.fail(FlowResult::At::Source, error);
    return -1;
}

bool SplicedPath::drain()
{
    Flow &flow = m_flow;
    int error = 0;
    const qsizetype moved = flow.m_pipe.drain(*flow.m_destination, &error);
    if (moved > 0) {
        flow.m_delivered += quint64(moved);
        flow.report(FlowResult::Delivered);
    }
    if (error == 0)
        return true;
    flow.fail(FlowResult::At::Destination, error);
    return false;
}
