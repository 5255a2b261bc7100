#pragma once

#include <QtGlobal>

// How long a flow's bytes waited for its destination (a full socket
// buffer, a peer not reading): the wait under way, if any, and the sum of
// those that ended. Times are monotonic µs.
class DestinationWait
{
public:
    // Bytes began to wait at nowUs (a wait under way goes on).
    void begin(qint64 nowUs)
    {
        if (m_sinceUs < 0)
            m_sinceUs = nowUs;
    }
    // They stopped waiting at nowUs: true, with when the wait began in
    // *sinceUs, when one was under way.
    bool end(qint64 nowUs, qint64 *sinceUs)
    {
        if (m_sinceUs < 0)
            return false;
        *sinceUs = m_sinceUs;
        m_totalUs += nowUs - m_sinceUs;
        m_sinceUs = -1;
        return true;
    }
    qint64 sinceUs() const { return m_sinceUs; } // -1: no wait under way
    qint64 totalUs() const { return m_totalUs; }

private:
    qint64 m_sinceUs = -1;
    qint64 m_totalUs = 0;
};
