#include "splicepipe.h"

#include "leg.h"

#include <cerrno>

ssize_t SplicePipe::fill(Leg &source, size_t length)
{
    const ssize_t received = source.readToPipe(m_pipe.write, length);
    if (received > 0)
        m_piped = int(received);
    return received;
}

qsizetype SplicePipe::drain(Leg &destination, int *error)
{
    *error = 0;
    qsizetype moved = 0;
    while (m_piped > 0) {
        const ssize_t n = destination.writeFromPipe(m_pipe.read, size_t(m_piped));
        if (n > 0) {
            m_piped -= int(n);
            moved += n;
            continue;
        }
        const int failure = errno;
        if (n < 0 && failure == EINTR)
            continue;
        if (n < 0 && (failure == EAGAIN || failure == EWOULDBLOCK))
            break;
        *error = n < 0 ? failure : EPIPE;
        break;
    }
    return moved;
}

void SplicePipe::giveBackIfEmpty(PipePool &pool)
{
    if (m_piped == 0 && m_pipe.isValid())
        pool.give(&m_pipe);
}

void SplicePipe::release(PipePool &pool)
{
    // A pipe that still holds bytes cannot serve another flow.
    if (m_piped > 0)
        PipePool::discard(&m_pipe);
    else if (m_pipe.isValid())
        pool.give(&m_pipe);
    m_piped = 0;
}
