#include "splicepipe.h"

#include "leg.h"
#include "legwriter.h"

ssize_t SplicePipe::fill(Leg &source, size_t length)
{
    const ssize_t received = source.readToPipe(m_pipe.write, length);
    if (received > 0)
        m_piped = int(received);
    return received;
}

qsizetype SplicePipe::drain(Leg &destination, int *error)
{
    qsizetype moved = 0;
    *error = LegWriter::write([this] { return qsizetype(m_piped); },
                              [&](qsizetype offered) { return destination.writeFromPipe(m_pipe.read, size_t(offered)); },
                              [&](qsizetype written) {
                                  m_piped -= int(written);
                                  moved += written;
                                  return true;
                              }).error;
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
