#pragma once

#include <QtGlobal>

#include <mutex>

// A bandwidth as a schedule: each request for bytes is given the time they
// may go, as if the bytes before them occupied a link of that rate (the
// generic cell rate algorithm: a token bucket told as a time). Requests
// are served in the order they are made, so the connections sharing one
// pacer (a browser's throttling is shared so) take turns instead of the
// quickest one taking it all. After a quiet spell up to the burst goes at
// once. Thread-safe: a shared pacer serves connections on every worker.
class RatePacer
{
public:
    RatePacer(qint64 bytesPerSecond, qint64 burstBytes);

    qint64 bytesPerSecond() const { return m_rate; }
    // The size of one request: 10 ms' worth (at least 1 byte, at most 64
    // KiB), so a paced flow writes about a hundred times a second.
    qint64 chunkBytes() const { return m_chunk; }
    // Books bytes on the link; returns when (monotonic µs, nowUs or later)
    // they may be sent.
    qint64 reserve(qint64 bytes, qint64 nowUs);

private:
    const qint64 m_rate;
    const qint64 m_chunk;
    const qint64 m_burstUs;
    std::mutex m_mutex;
    qint64 m_freeAtUs = 0; // when the booked bytes will have passed
    qint64 m_carryNs = 0;  // the sub-microsecond rest of the bookings
};
