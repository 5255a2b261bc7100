#pragma once

#include "destinationwait.h"
#include "flowbuffer.h"
#include "flowobserver.h"
#include "flowresult.h"
#include "monotonicclock.h"
#include "pipepool.h"
#include "shapedpath.h"
#include "splicepipe.h"
#include "timerheap.h"

#include <QtGlobal>

#include <cstdint>
#include <memory>

class Leg;

// Moves bytes one way, from a source leg to a destination leg, on a
// worker's thread. It holds at most one buffer (or one pipe) of them, and
// reads nothing more from the source while they wait: that is the
// backpressure. A read that fills the buffer marks a bulk transfer, which
// from then on goes through a pipe (splice) when both legs can, the bytes
// never leaving the kernel. An observer, if any, is shown what passes.
//
// A flow calls nobody back: each call that moves bytes returns a
// FlowResult saying what it met (bytes moved, the source's FIN, the FIN
// due, a leg's failure, a limit, a share used up), and its owner acts on
// that once the call is over. The end of the stream travels like the data:
// the source's FIN is reported (Ended), and once everything before it has
// been delivered, so is the FIN's turn (FinDue).
//
// A flow can be made to misbehave on purpose: shaped (latency, bandwidth,
// slices: a FlowShaper says when its bytes may go, and the owner's wake
// timer brings it back then), stalled (its source is not read), a black
// hole (what its source sends is read and dropped), or limited (it
// delivers so many bytes and reports LimitReached). Any of these but the
// stall takes it off the splice path onto its ShapedPath, since it must
// count and time each byte; without them it goes back. The setters only
// change the state; resume() then delivers what may go under it.
class Flow
{
public:
    enum Side : std::uintptr_t { Client = 0, Upstream = 1 };

    // What the flows on one thread share: a scratch buffer where reads land
    // before they are forwarded or shown (and the size of every flow's
    // buffer and pipe), and the pipes for splicing.
    struct Shared
    {
        char *scratch = nullptr;
        int capacity = 0;
        PipePool *pipes = nullptr;
        // The worker's wake-up time (monotonic µs): what "the last read"
        // is timed by, without a clock call per read.
        const qint64 *wakeUs = nullptr;
        // The worker's timers: a shaped flow waits on one.
        TimerHeap *timers = nullptr;
    };
    // A filter's NoStop: its answer is a limit as it is.
    static constexpr quint64 NoLimit = FlowObserver::NoStop;

    // wake: the owner's timer, which a shaped flow schedules for when its
    // bytes (or its FIN) may go; on its expiry the owner calls wake(). A
    // flow with none is never shaped.
    Flow(Side from, Leg &source, Leg &destination, const Shared &shared, TimerHeap::Timer *wake = nullptr);
    ~Flow();

    Flow(const Flow &) = delete;
    Flow &operator=(const Flow &) = delete;

    Side from() const { return m_from; }
    Side to() const { return m_from == Client ? Upstream : Client; }
    bool fromClient() const { return m_from == Client; }
    // Bytes (or a shaped flow's FIN) wait to be delivered.
    bool pending() const { return !m_buffer.isEmpty() || !m_pipe.isEmpty() || (m_path && m_path->finHeld()); }
    bool ended() const { return m_eof; }          // the source's FIN was read
    bool finPassed() const { return m_shutDown; } // and passed on
    quint64 delivered() const { return m_delivered; }
    // Bytes read from the source and not yet delivered.
    quint64 held() const { return quint64(m_buffer.size()) + quint64(m_pipe.size()); }
    // Monotonic µs: the last read from the source (-1: none yet), how long
    // bytes have waited for the destination in all, and since when they
    // wait now (-1: they do not).
    qint64 lastReadUs() const { return m_lastReadUs; }
    qint64 waitedUs() const { return m_wait.totalUs(); }
    qint64 waitingSinceUs() const { return m_wait.sinceUs(); }
    // The session read bytes from the source itself (a ClientHello being
    // sniffed, an HTTP proxy's requests): FirstBytes the first time.
    [[nodiscard]] FlowResult noteRead();

    void setObserver(FlowObserver *observer) { m_observer = observer; }
    // The session put another leg in place of one of this flow's (a TLS
    // leg over the TCP leg it had), with nothing pending.
    void replaceLeg(const Leg &old, Leg &replacement);
    // HTTP proxy mode reads every response byte, so it never splices; nor
    // does a flow whose HTTP faults are followed byte by byte.
    void setSpliceAllowed(bool allowed);
    // The session reads the source itself and feeds the flow what is to
    // go (an HTTP proxy's requests, rewritten) with forward(), at most
    // roomToFeed() at a time: the flow never reads the source, and still
    // shapes, drops, limits and times what it is fed. Its FIN is the
    // session's to pass.
    void setFed(bool fed) { m_fed = fed; }
    // How many bytes forward() takes now. 0 means come back later: once
    // what the flow holds has gone, a pump() reports Yield, as for a
    // source left unread.
    qsizetype roomToFeed();
    // The first bytes read from the source wait, unshown and undelivered,
    // until resume() (FirstHeld): something is to act before they go (a
    // fault on first data).
    void setHoldFirstBytes(bool hold) { m_holdFirst = hold; }

    // The setters change what the flow does from now on and move nothing;
    // resume() then delivers what may go (the owner's to call, outside any
    // call of the flow's own), and reading on is the owner's to start (its
    // policy knows who reads the source). Called from the flow's observer,
    // in the middle of a call of the flow's, a setter takes effect for the
    // rest of that call.
    //
    // Conditions from now on (null: none); bytes already held go without
    // a delay. Needs Shared::timers and a wake timer.
    void setShaper(std::unique_ptr<FlowShaper> shaper);
    const FlowShaper *shaper() const { return m_path ? m_path->shaper() : nullptr; }
    // Who stops the source being read (its sender then meets
    // backpressure): each holds it and lets it go for itself alone, so that
    // none ends another's hold (a resume ends a stall, not a clean close).
    enum Holder : quint8 {
        Stall = 1 << 0,     // the user's or a rule's, until a resume
        HalfClose = 1 << 1, // a half-close toward the destination: for good
        Closing = 1 << 2,   // a clean close: for good
        Halted = 1 << 3,    // halt(): for good
    };
    void hold(Holder holder) { m_holders |= holder; }
    void letGo(Holder holder) { m_holders &= quint8(~holder); }
    bool heldBy(Holder holder) const { return m_holders & holder; }
    bool paused() const { return m_holders != 0; }
    // A black hole: the source is read and its bytes dropped; its FIN is
    // kept until the hole is removed, and passes on (Ended) at resume().
    void setDiscarding(bool discarding);
    bool discarding() const { return m_path && m_path->discarding(); }
    quint64 discarded() const { return m_path ? m_path->discarded() : 0; }
    // Who limits what the flow delivers: the faults (a limit, a half-close
    // or a clean close after what is held) or its filters, whose answers
    // to the bytes they see (FlowObserver::Verdict) the flow takes as
    // their limit (an HTTP fault gate holding a request head until it is
    // decided). Each sets and lifts its own; the flow stops at the lower,
    // and keeps reading while its buffer has room, so that a filter sees
    // what it waits for.
    enum Limiter : quint8 { ByFault = 0, ByFilter = 1 };
    static_assert(ShapedPath::Limiters == ByFilter + 1, "the shaped path keeps a limit for each limiter");
    // Delivers at most total bytes in all (NoLimit: no limit); reaching it
    // is reported once (LimitReached, with the limiter in limitsMet), by
    // resume() if it is met already.
    void setDeliveryLimit(quint64 total, Limiter by = ByFault);
    quint64 deliveryLimit(Limiter by = ByFault) const { return m_path ? m_path->limit(by) : NoLimit; }
    // The filters' stop now (their answer to bytes shown, or stopAt() when
    // one changed it between them); the same stop again changes nothing.
    void takeFilterStop(quint64 at)
    {
        if (at != deliveryLimit(ByFilter))
            setDeliveryLimit(at, ByFilter);
    }
    // After a setter: first bytes held go on, a black hole's FIN passes,
    // a limit met is reported, what may go is delivered, a FIN due is
    // reported.
    [[nodiscard]] FlowResult resume();

    // Reads the source until it is proven empty, the destination is full,
    // or a wake-up's share is used (Yield). Does nothing while bytes wait
    // or once the source has ended.
    [[nodiscard]] FlowResult pump();
    // The destination has room: sends what waits, then reports the FIN
    // due or reads on.
    [[nodiscard]] FlowResult flush();
    // The wake timer expired: a shaped flow delivers what is due.
    [[nodiscard]] FlowResult wake();
    // Sends bytes the session produced (an answer, bytes a front held),
    // after any it holds, and keeps what the destination cannot take yet;
    // a fed flow takes at most roomToFeed().
    [[nodiscard]] FlowResult forward(const char *data, qsizetype length);
    // Keeps bytes for the next flush(), after any it holds.
    void hold(const char *data, qsizetype length);

    // The session shows the flow's observer bytes it fed the flow or made
    // itself (an answer in the upstream's place), as a read shows them;
    // the observer's answer holds for the flow as a read's does.
    void show(const char *data, qsizetype size);
    // The source's FIN was read (and the observer is told). A fed flow's
    // session reads it; if the flow is shaped, the FIN then waits its
    // turn like a byte (pending()).
    void markEnded();
    void markFinPassed() { m_shutDown = true; }
    // Bytes the session sent to the destination itself.
    void countDelivered(quint64 bytes) { m_delivered += bytes; }
    // The destination is a new connection (an HTTP proxy's next upstream):
    // what was held for the old one is dropped with it.
    [[nodiscard]] FlowResult newDestination();
    // Drops what the flow holds: its destination will not have it.
    [[nodiscard]] FlowResult dropHeld();
    // Drops what it holds and reads its source no more: not a byte more
    // goes (a limit met, an answer given in the upstream's place).
    [[nodiscard]] FlowResult halt();
    // The connection is failing: what the destination never acknowledged
    // was never delivered. True when delivered() changed.
    bool uncountUnacknowledged();
    // Frees the buffer and pipe; with stop, the connection has ended and
    // the flow does nothing more.
    void release(bool stop);

private:
    friend class ShapedPath;  // the flow's shaped path, part of it
    friend class SplicedPath; // and its spliced one

    // Reads per wake-up: enough to keep a fast stream moving, few enough
    // not to starve the worker's other connections.
    static constexpr int RoundsPerWakeUp = 8;

    // What the call under way met so far, handed over (and cleared) as
    // the public call returns.
    FlowResult take();
    void report(FlowResult::Event event) { m_result.events |= event; }
    void fail(FlowResult::At at, int error);
    // The call must go no further: the connection ended, or something
    // halting was met.
    bool halted() const { return m_stopped || m_result.halted(); }
    // Whether bytes take the shaped path (counted and timed) now.
    bool shaped() const { return m_path && m_path->active(); }
    // The shaped path, made on first need.
    ShapedPath &path();
    qint64 nowUs() const;
    qsizetype feedRoom() const;
    void pumpSource();
    void flushDestination();
    // Delivers what may go now, or reports the FIN due.
    void kick();
    void sendOn(const char *data, qsizetype length);
    // The first bytes wait for resume() (setHoldFirstBytes()), and go on
    // then.
    void holdFirst(const char *data, qsizetype length);
    void releaseFirst();
    // Sends what the buffer holds, as far as the destination takes it;
    // false on a failure (reported).
    bool sendBuffer();
    // Bytes join those held (on the shaped path: timed).
    void append(const char *data, qsizetype length);
    // A copy read's bytes: shown and sent on. True to read on.
    bool copied(const char *data, qsizetype received, int capacity);
    bool sendOrFail(const char *data, qsizetype length, qsizetype *sent);
    void keep(const char *data, qsizetype length);
    void sourceEnded();
    // Bytes came from the source: the idle clock restarts, the read is
    // timed. True when they are the first and are to be held (FirstHeld).
    bool sourceRead();
    // Times the read; FirstBytes the first time.
    void noteReadTime();
    bool watched() const { return m_observer && m_observer->watching(fromClient()); }
    // Bytes began to wait for the destination, or stopped waiting.
    void waitBegins() { m_wait.begin(MonotonicClock::nowUs()); }
    void waitEnds();

    const Side m_from;
    Leg *m_source;
    Leg *m_destination;
    const Shared &m_shared;
    TimerHeap::Timer *const m_wakeTimer;
    FlowObserver *m_observer = nullptr;
    FlowResult m_result;
    FlowBuffer m_buffer;      // what waits for the destination
    SplicePipe m_pipe;        // what was spliced and waits for the destination
    quint64 m_delivered = 0;
    bool m_bulk = false;      // a read filled the buffer: splice from now on
    bool m_spliceAllowed = true;
    bool m_fed = false;
    bool m_eof = false;
    bool m_shutDown = false;
    bool m_stopped = false;
    bool m_holdFirst = false;
    bool m_firstHeld = false;     // the first bytes are in the buffer, unshown
    qint64 m_lastReadUs = -1;
    DestinationWait m_wait;
    quint8 m_holders = 0; // Holder bits

    bool m_sourceLeft = false;    // a shaped flow stopped reading a source that may hold more,
                                  // or a fed flow had no room for its session
    std::unique_ptr<ShapedPath> m_path;
};
