#pragma once

#include "flowconditions.h"

#include <deque>
#include <memory>
#include <random>

class RatePacer;

// Decides when the bytes a conditioned flow holds may be written: each
// read is stamped with its release time (arrival plus latency, never
// before the read ahead of it), a pacer spaces them to the bandwidth, and
// slicing cuts them into pieces with a pause between. Latency is added
// once per byte, not once per chunk: bytes read back to back while earlier
// ones still wait are released as the earlier ones are, so a long transfer
// takes its latency once (10 MB at 1 MB/s and 100 ms: 10.1 s, where
// delaying each chunk in turn took 13).
//
// It never holds bytes itself: the flow keeps them in its one buffer and
// stops reading when that is full, or when too many reads are stamped.
class FlowShaper
{
public:
    // shared: a pacer that other flows use too (null: one of its own when
    // the conditions set a bandwidth).
    FlowShaper(const FlowConditions &conditions, std::shared_ptr<RatePacer> shared, quint32 seed);
    ~FlowShaper();

    const FlowConditions &conditions() const { return m_conditions; }
    // bytes held before the shaper came: they go without a delay.
    void heldAlready(qint64 bytes, qint64 nowUs);
    // bytes just read, after those held.
    void arrived(qint64 bytes, qint64 nowUs);
    // The source's FIN was read: it passes like a byte.
    void endArrived(qint64 nowUs);
    // Reading pauses while this many reads wait to be released.
    bool full() const { return m_stamps.size() >= MaxStamps; }

    // How many of the held bytes may be written now; 0 with *wakeUs set to
    // when to ask again.
    qint64 writable(qint64 held, qint64 nowUs, qint64 *wakeUs);
    // bytes were written (at most what writable() said).
    void wrote(qint64 bytes, qint64 nowUs);
    // The bytes held were dropped (their destination went): what comes
    // next is timed afresh.
    void dropHeld();
    // Whether the FIN may pass now (all bytes written); false with *wakeUs
    // set to when it may.
    bool endDue(qint64 nowUs, qint64 *wakeUs) const;

private:
    static constexpr size_t MaxStamps = 4096;
    struct Stamp
    {
        qint64 end = 0;       // the bytes arrived up to here, in all,
        qint64 releaseUs = 0; // may be written from then on
    };
    qint64 releaseTime(qint64 nowUs);
    qint64 released(qint64 nowUs, qint64 *wakeUs);

    const FlowConditions m_conditions;
    std::shared_ptr<RatePacer> m_pacer;
    std::mt19937 m_random;
    std::deque<Stamp> m_stamps;
    qint64 m_arrived = 0;
    qint64 m_releasedEnd = 0;    // bytes released up to here, in all
    qint64 m_written = 0;
    qint64 m_lastReleaseUs = 0;
    qint64 m_endReleaseUs = -1;
    qint64 m_granted = 0;        // paced bytes whose time has come
    qint64 m_booked = 0;         // paced bytes booked for m_bookedAtUs
    qint64 m_bookedAtUs = -1;
    qint64 m_piece = 0;          // what is left of the current slice
    qint64 m_nextPieceUs = 0;
};
