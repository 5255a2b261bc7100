#include "flowshaper.h"

#include "ratepacer.h"

#include <algorithm>
#include <limits>

FlowShaper::FlowShaper(const FlowConditions &conditions, std::shared_ptr<RatePacer> shared, quint32 seed)
    : m_conditions(conditions)
    , m_pacer(std::move(shared))
    , m_random(seed)
{
    if (!m_pacer && conditions.bytesPerSecond > 0)
        m_pacer = std::make_shared<RatePacer>(conditions.bytesPerSecond, conditions.burstBytes);
}

FlowShaper::~FlowShaper() = default;

qint64 FlowShaper::releaseTime(qint64 nowUs)
{
    qint64 delay = m_conditions.latencyUs;
    if (m_conditions.jitterUs > 0)
        delay += std::uniform_int_distribution<qint64>(-m_conditions.jitterUs, m_conditions.jitterUs)(m_random);
    // Jitter never reorders: a read is released no earlier than the one
    // before it.
    m_lastReleaseUs = std::max({m_lastReleaseUs, nowUs, nowUs + delay});
    return m_lastReleaseUs;
}

void FlowShaper::heldAlready(qint64 bytes, qint64 nowUs)
{
    m_arrived += bytes;
    m_releasedEnd = m_arrived;
    m_lastReleaseUs = std::max(m_lastReleaseUs, nowUs);
}

void FlowShaper::arrived(qint64 bytes, qint64 nowUs)
{
    m_arrived += bytes;
    const qint64 release = releaseTime(nowUs);
    // Reads released at the same moment share a stamp.
    if (!m_stamps.empty() && m_stamps.back().releaseUs == release)
        m_stamps.back().end = m_arrived;
    else
        m_stamps.push_back({m_arrived, release});
}

void FlowShaper::endArrived(qint64 nowUs)
{
    m_endReleaseUs = releaseTime(nowUs);
}

qint64 FlowShaper::released(qint64 nowUs, qint64 *wakeUs)
{
    // Release times only grow: the stamps due are at the front.
    while (!m_stamps.empty() && m_stamps.front().releaseUs <= nowUs) {
        m_releasedEnd = m_stamps.front().end;
        m_stamps.pop_front();
    }
    if (!m_stamps.empty())
        *wakeUs = m_stamps.front().releaseUs;
    return m_releasedEnd - m_written;
}

qint64 FlowShaper::writable(qint64 held, qint64 nowUs, qint64 *wakeUs)
{
    *wakeUs = -1;
    qint64 ready = std::min(held, released(nowUs, wakeUs));
    if (ready <= 0)
        return 0;
    if (m_conditions.sliceBytes > 0) {
        if (m_piece == 0) {
            if (nowUs < m_nextPieceUs) {
                *wakeUs = m_nextPieceUs;
                return 0;
            }
            m_piece = m_conditions.sliceBytes;
            if (m_conditions.sliceVariation > 0)
                m_piece += std::uniform_int_distribution<qint64>(-m_conditions.sliceVariation,
                                                                 m_conditions.sliceVariation)(m_random);
            m_piece = std::max<qint64>(1, m_piece);
        }
        ready = std::min(ready, m_piece);
    }
    if (!m_pacer)
        return ready;
    if (m_bookedAtUs >= 0) {
        if (nowUs < m_bookedAtUs) {
            *wakeUs = m_bookedAtUs;
            return 0;
        }
        m_granted += m_booked;
        m_booked = 0;
        m_bookedAtUs = -1;
    }
    if (m_granted == 0) {
        // One chunk at a time: booking all that is ready would let this
        // flow jump ahead of the others sharing the pacer.
        const qint64 want = std::min(ready, m_pacer->chunkBytes());
        const qint64 at = m_pacer->reserve(want, nowUs);
        if (at > nowUs) {
            m_booked = want;
            m_bookedAtUs = at;
            *wakeUs = at;
            return 0;
        }
        m_granted = want;
    }
    return std::min(ready, m_granted);
}

void FlowShaper::wrote(qint64 bytes, qint64 nowUs)
{
    m_written += bytes;
    if (m_pacer)
        m_granted = std::max<qint64>(0, m_granted - bytes);
    if (m_conditions.sliceBytes > 0) {
        // One write per slice: what the socket did not take goes with the
        // next one.
        m_piece = 0;
        m_nextPieceUs = nowUs + m_conditions.sliceDelayUs;
    }
}

void FlowShaper::dropHeld()
{
    m_stamps.clear();
    m_releasedEnd = m_written = m_arrived;
    m_piece = 0;
}

bool FlowShaper::endDue(qint64 nowUs, qint64 *wakeUs) const
{
    *wakeUs = -1;
    if (m_written < m_arrived)
        return false;
    if (m_endReleaseUs > nowUs) {
        *wakeUs = m_endReleaseUs;
        return false;
    }
    return true;
}
