#pragma once

#include "capturetap.h"
#include "connectiondeadlines.h"
#include "connectionlegs.h"
#include "connectionlife.h"
#include "connectiontls.h"
#include "connectionrecord.h"
#include "faultdriver.h"
#include "faulttarget.h"
#include "flow.h"
#include "flowfilters.h"
#include "resolver.h"
#include "sessionpolicy.h"
#include "upstreamreach.h"

#include <cstdint>
#include <memory>

struct ClientHello;
class TlsServerContext;
class Worker;

// One client connection and its upstream leg, relayed with non-blocking POSIX
// sockets on a worker's epoll set. Lives entirely on the worker's thread.
//
// It owns its sockets (ConnectionLegs), the two flows between them (client
// to upstream, upstream to client) and what watches their bytes
// (FlowFilters: the HTTP fault gate, the capture's tap), the way to an
// upstream (UpstreamReach), the TLS on both legs (ConnectionTls), the
// timeouts (ConnectionDeadlines) and the record, which ConnectionLife
// opens, marks and closes. Each of those returns what came of a call, and
// the connection acts on it. What is done to it on purpose is its
// FaultDriver's, which reaches it only as a FaultTarget. Its policy
// (forwarding, or the HTTP proxy's front) decides what the events mean and
// where the upstream leg goes.
//
// What it keeps exact, and QTcpSocket does not: a FIN from one side is passed
// on as a shutdown of writing toward the other side while the other
// direction keeps flowing; a reset from one side is passed on as a reset
// (SO_LINGER 0) and recorded as one; at most one buffer of data is held per
// direction, and reading from a side stops while its data waits.
class RelayConnection final : private FaultTarget
{
public:
    using Side = Flow::Side;
    static constexpr Side Client = Flow::Client;
    static constexpr Side Upstream = Flow::Upstream;
    using Reason = ConnectionRecord::CloseReason; // why it ended: a value; text only for display
    // How it ends: both sides closed (each gets its FIN); the same after
    // reading what each sent and will not be relayed, so that closing it
    // sends a FIN rather than a reset; or, when the other side failed, one
    // side reset, so that it does not take a broken connection for a
    // complete one.
    enum class End { Close, Drain, ResetClient, ResetUpstream };
    enum class Phase { Resolving, Connecting, Handshaking, Relaying, Finished };

    // clientFd is an accepted, non-blocking socket (Listener makes it so).
    RelayConnection(Worker &worker, quint64 id, int clientFd);
    ~RelayConnection();

    RelayConnection(const RelayConnection &) = delete;
    RelayConnection &operator=(const RelayConnection &) = delete;

    // --- for the worker
    void begin();
    void resolved(const ResolveResult &result);
    // An epoll event; the tag is ConnectionLegs'.
    static constexpr std::uintptr_t TagBits = ConnectionLegs::TagBits;
    void handleEvent(std::uintptr_t tag, std::uint32_t events);
    // Continues reading a source that had more than one wake-up's worth.
    void pumpAgain(Side side);
    // Enforces the connect, idle and half-close timeouts.
    void checkTimeouts(qint64 nowMs);
    // Ends the connection now (the one way it ends).
    void end(Reason reason, const QString &why, End how = End::Close);
    // What is done to it on purpose: act() a fault now, closeCleanly().
    FaultDriver &faults() { return m_faults; }
    // The worker's rules changed: their conditions replace the old ones
    // (a direction the user throttled by hand keeps that throttle).
    void rulesChanged();

    bool isFinished() const override { return m_phase == Phase::Finished; }
    quint64 id() const { return m_record.id; }
    ConnectionRecord snapshot() const;

    // Bookkeeping for the worker.
    size_t slot = 0;
    bool dirty = false;

    // --- for the policies
    Worker &worker() { return m_worker; }
    ConnectionRecord &record() { return m_record; }
    Phase phase() const { return m_phase; }
    void setPhase(Phase phase) { m_phase = phase; }
    Leg &leg(Side side) { return m_legs[side]; }
    Flow &flowFrom(Side side) { return side == Client ? m_up : m_down; }
    Flow &flowTo(Side side) override { return side == Client ? m_down : m_up; }
    Flow &up() { return m_up; }
    Flow &down() { return m_down; }
    // Acts on what a call on one of its flows reported, in the order the
    // events are listed; false when the connection has ended.
    bool settle(Flow &flow, const FlowResult &result) override;
    // What watches the flows' bytes: the HTTP faults' gate, then the
    // capture's tap (forFlows() is what a flow is to be given).
    FlowFilters &filters() { return m_filters; }
    // Shows the filters bytes the policy itself sent toward a side.
    void capture(const Flow &flow, const char *data, qsizetype size) override;
    // Its life: the timeline's marks, the first FIN, the close.
    ConnectionLife &life() { return m_life; }
    void touched();
    void markDirty();
    // The connection's life: a mark on side's lane, timed now (or at atUs,
    // monotonic, when the caller has just read the clock).
    void mark(TimelineMark::Kind kind, Side side, qint32 code = 0, const QString &note = QString(), qint64 atUs = -1);
    // Passes a FIN toward side (shuts down writing to it).
    void passFin(Side toward);
    // Resolves host and connects to it, as the upstream leg; with tls,
    // then speaks TLS to it (checking its certificate for host).
    void reachUpstream(const QString &host, quint16 port, bool tls = false);
    // Ends the client's TLS (hello: what it sent so far) with proxymon's
    // certificate for name, and speaks TLS to the upstream as upstreamName
    // (none when empty: proxymon's own page); once both handshakes ran the
    // flows carry plaintext. False, with why, when no certificate can be
    // had; nothing changed then.
    bool intercept(const TlsServerContext &server, const QByteArray &hello, const ClientHello &parsed, const QString &name,
                   const QString &upstreamName, QString *why);
    ConnectionTls &tls() { return m_tls; }
    // The client of an intercepted connection went away without a byte
    // of HTTP: a client that pins certificates does that. Recorded as a
    // rejection, and its host passes through from now on.
    void noteSilentRejection(const QString &how);
    // The upstream leg goes over fd, already connected to address.
    void adoptUpstream(int fd, const QString &address);
    // Takes the upstream's descriptor out of the connection, open.
    int detachUpstream() { return m_legs.detachUpstream(); }
    void closeUpstream();
    void sideFailed(Side side, int error);
    // The policy that decides from now on; the current one may be the
    // caller, and is freed with the connection.
    void setPolicy(std::unique_ptr<SessionPolicy> policy);
    void yield(Side side);

private:
    // FaultTarget
    bool isRelaying() const override { return m_phase == Phase::Relaying; }
    void conditionsChanged(Flow &flow) override;
    void resetSide(Side side) override;
    void passFin(Flow &flow) override;
    void endByFault(const QString &why, bool drain) override;
    void markFault(qint32 code, const QString &why) override;
    void describeConditions(const QString &text) override;

    void connectDelayOver();
    // A shaped flow's bytes are due.
    void upDue() { settle(m_up, m_up.wake()); }
    void downDue() { settle(m_down, m_down.wake()); }
    // The way to an upstream: the phase it starts in, and what each of
    // its steps said to do next.
    void startReaching();
    void reaching(const UpstreamReach::Outcome &outcome);
    // Moves the TLS handshakes on and acts on what came of them.
    void handshake();
    // Puts replacement under both flows in the place of side's leg.
    void replaceLeg(Side side, Leg &replacement);
    // The upstream leg is ready for bytes.
    void established(std::uint32_t events);

    Worker &m_worker;
    ConnectionRecord m_record;
    ConnectionLife m_life;
    ConnectionLegs m_legs;
    ConnectionTls m_tls; // its TLS legs stand in for m_legs' sockets under the flows
    Phase m_phase = Phase::Resolving;
    // The flows' wake timers, on the worker's heap (before the flows,
    // which cancel them as they go).
    MemberTimer<RelayConnection, &RelayConnection::upDue> m_upDue{*this};
    MemberTimer<RelayConnection, &RelayConnection::downDue> m_downDue{*this};
    Flow m_up;
    Flow m_down;
    ConnectionDeadlines m_deadlines;

    // The connection's own timer on the worker's heap: a held connect.
    MemberTimer<RelayConnection, &RelayConnection::connectDelayOver> m_connectTimer{*this};

    UpstreamReach m_reach{m_legs.tcp(Upstream), m_life, m_record, m_tls};
    CaptureTap m_tap{m_worker, m_record, m_life.originUs()};
    FlowFilters m_filters; // points to the gate and m_tap
    FaultDriver m_faults;
    std::unique_ptr<SessionPolicy> m_policy;
    std::unique_ptr<SessionPolicy> m_retiredPolicy; // replaced while it ran
};
