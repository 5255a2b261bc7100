#pragma once

#include "flowshaper.h"
#include "timerheap.h"

#include <QtGlobal>

#include <limits>
#include <memory>

class Flow;

// The path a Flow's bytes take while something must count or time each of
// them: conditions (a FlowShaper says when bytes may go, and a timer on
// the worker's heap brings the flow back then), a black hole (what the
// source sends is read and dropped; its FIN kept until the hole goes) or a
// delivery limit (so many bytes in all, then the owner is told). The plain
// pump and its splices stay in Flow; a flow makes its ShapedPath on first
// need, so an ordinary connection carries none of this.
//
// It is part of its flow (a friend, on the flow's thread): it reads and
// writes the flow's legs and buffer, reports into the flow's result, and
// schedules the flow's wake timer (its owner's) for when bytes are due.
class ShapedPath
{
public:
    static constexpr quint64 NoLimit = std::numeric_limits<quint64>::max();

    explicit ShapedPath(Flow &flow) : m_flow(flow) {}

    // Something is to count or time the bytes: the flow takes this path.
    bool active() const { return m_shaper || m_discarding || limit() != NoLimit; }
    // The FIN waits for its time, after bytes that are shaped.
    bool finHeld() const { return m_finHeld; }
    const FlowShaper *shaper() const { return m_shaper.get(); }
    bool discarding() const { return m_discarding; }
    quint64 discarded() const { return m_discarded; }
    // How many limiters there are (Flow::Limiter: the faults, the filters).
    static constexpr int Limiters = 2;
    // The lower of the limits (each limiter's, Flow::Limiter).
    quint64 limit() const { return qMin(m_limits[0], m_limits[1]); }
    quint64 limit(int limiter) const { return m_limits[limiter]; }

    // What Flow's setters of the same names do on this path.
    void setShaper(std::unique_ptr<FlowShaper> shaper);
    void setDiscarding(bool discarding);
    // After a change: a FIN the hole kept passes once the hole is gone,
    // and a limit met is reported. True when either happened (the flow
    // has nothing more to start then).
    bool resume();
    void setLimit(int limiter, quint64 total);

    // Reads the source while there is room, delivering what may go.
    void pump();
    // Delivers what may go now; false when something halting was met (a
    // failure, the limit, the FIN due).
    bool deliver();
    // How many bytes it takes in now (0: it waits): its one buffer bounds
    // it, and it takes more only once a quarter of that is free, so that a
    // buffer kept full by slices is not filled (and moved) a few bytes at
    // a time.
    qsizetype room() const;
    // Bytes the flow read (or was fed) joined those held: timed now.
    void arrived(qsizetype length);
    // A fed flow's FIN arrived: it waits its turn like a byte.
    void endArrived();
    // What is held was dropped: what comes next is timed afresh.
    void heldDropped();
    // Bytes were dropped into the hole.
    void swallowed(quint64 bytes) { m_discarded += bytes; }
    // The flow stops: its wake timer is cancelled (Flow::release() sees
    // to it before the flow goes).
    void stop();
    // A delivery limit is met and was not reported yet: reports it
    // (LimitReached, with whose) and returns true.
    bool limitReached();

private:
public:
    // The flow's wake timer expired.
    void wake();

private:
    void wakeAt(qint64 dueUs);
    // The source's FIN was read on this path.
    void sourceEnded();

    Flow &m_flow;
    std::unique_ptr<FlowShaper> m_shaper;
    quint64 m_discarded = 0;
    quint64 m_limits[Limiters] = {NoLimit, NoLimit}; // by Flow::Limiter
    bool m_discarding = false;
    bool m_finHeld = false;      // the FIN waits for its time
    bool m_endSwallowed = false; // the black hole read the source's FIN
    bool m_limitReported[Limiters] = {false, false};
};
