#include "pipepool.h"

#include <fcntl.h>
#include <unistd.h>

namespace {

// Idle pipes kept for reuse; more are closed when given back.
constexpr size_t MaxIdle = 32;

} // namespace

PipePool::PipePool(int capacityBytes)
    : m_capacity(capacityBytes)
{
}

PipePool::~PipePool()
{
    clear();
}

void PipePool::clear()
{
    for (Pipe &pipe : m_idle)
        discard(&pipe);
    m_idle.clear();
}

bool PipePool::take(Pipe *pipe)
{
    if (!m_idle.empty()) {
        *pipe = m_idle.back();
        m_idle.pop_back();
        return true;
    }
    int ends[2];
    if (pipe2(ends, O_NONBLOCK | O_CLOEXEC) != 0)
        return false;
    // As much room as the copy path's buffer, so the bound per direction is
    // the same either way. The kernel may refuse; the default size works too.
    fcntl(ends[1], F_SETPIPE_SZ, m_capacity);
    pipe->read = ends[0];
    pipe->write = ends[1];
    return true;
}

void PipePool::give(Pipe *pipe)
{
    if (!pipe->isValid())
        return;
    if (m_idle.size() < MaxIdle)
        m_idle.push_back(*pipe);
    else
        discard(pipe);
    *pipe = Pipe();
}

void PipePool::discard(Pipe *pipe)
{
    if (pipe->read >= 0)
        ::close(pipe->read);
    if (pipe->write >= 0)
        ::close(pipe->write);
    *pipe = Pipe();
}
