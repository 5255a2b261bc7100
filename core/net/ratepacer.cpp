#include "ratepacer.h"

#include <algorithm>

RatePacer::RatePacer(qint64 bytesPerSecond, qint64 burstBytes)
    : m_rate(std::max<qint64>(1, bytesPerSecond))
    , m_chunk(std::clamp<qint64>(m_rate / 100, 1, 64 * 1024))
    , m_burstUs((burstBytes > 0 ? burstBytes : m_chunk) * 1'000'000 / m_rate)
{
}

qint64 RatePacer::reserve(qint64 bytes, qint64 nowUs)
{
    std::lock_guard lock(m_mutex);
    // A link idle for a while has the burst's credit, no more.
    const qint64 start = std::max(m_freeAtUs, nowUs - m_burstUs);
    const qint64 ns = bytes * 1'000'000'000 / m_rate + m_carryNs;
    m_freeAtUs = start + ns / 1000;
    m_carryNs = ns % 1000;
    // They go once the link has carried those booked before them.
    return std::max(nowUs, start);
}
