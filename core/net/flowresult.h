#pragma once

#include <QtGlobal>

// What one call on a Flow did, for its owner to act on. A flow calls
// nobody back (HAProxy's raw_sock_to_buf() returns a count and sets flags;
// its caller decides): whatever a pump, flush or wake-up met is in the
// result, and the owner acts on it after the call has returned, when no
// flow is in the middle of anything. A connection can therefore end only
// between calls on its flows, never inside one.
//
// The events are listed in the order an owner handles them. Several can
// come in one result (bytes read, the source's FIN, then the FIN due); the
// halting ones end the call: the flow did nothing after them.
struct FlowResult
{
    enum Event : quint16 {
        Moved = 1 << 0,        // bytes were read or written: the idle clock restarts
        Delivered = 1 << 1,    // delivered() changed
        FirstBytes = 1 << 2,   // the source's first bytes were read, at lastReadUs()
        Waited = 1 << 3,       // bytes waited for the destination, waitSinceUs to waitUntilUs
        Ended = 1 << 4,        // the source's FIN was read (the owner marks it: markEnded())
        Failed = 1 << 5,       // the leg failedAt failed with error (halting)
        LimitReached = 1 << 6, // delivered() met a delivery limit, limitsMet says whose (halting)
        FinDue = 1 << 7,       // all before the FIN is delivered: pass it on (halting)
        // Come back later (halting): the source has more after a wake-up's
        // share, or a fed flow has room again for what its session holds.
        Yield = 1 << 8,
        // The first bytes wait, unshown and undelivered, for resume(): the
        // flow was told to hold them (halting).
        FirstHeld = 1 << 9,
    };
    static constexpr quint16 Halting = Failed | LimitReached | FinDue | Yield | FirstHeld;
    // Which of the flow's legs failed: the one it reads or the one it writes.
    enum class At : quint8 { Source, Destination };

    quint16 events = 0;
    At failedAt = At::Source;
    int error = 0;            // errno, with Failed
    quint8 limitsMet = 0;     // with LimitReached: 1 << Flow::Limiter of each limit met
    qint64 waitSinceUs = -1;  // monotonic, with Waited; two waits in one
    qint64 waitUntilUs = -1;  // call (a few µs apart) read as one

    bool has(Event event) const { return (events & event) != 0; }
    bool isEmpty() const { return events == 0; }
    bool halted() const { return (events & Halting) != 0; }
};
