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
// sockets on a worker's epoll set, on the worker's thread only. It owns its
// sockets (ConnectionLegs), the flows between them and what watches their
// bytes (FlowFilters), the way to an upstream (UpstreamReach), the TLS on
// both legs (ConnectionTls), the timeouts (ConnectionDeadlines) and the
// record (ConnectionLife). Each of those returns what came of a call, and
// the connection acts on it; its FaultDriver reaches it only as a
// FaultTarget; its policy (forwarding, the HTTP proxy) decides what the
// events mean and where the upstream leg goes.
//
// What it keeps exact, and QTcpSocket does not: a FIN from one side goes on
// as a shutdown of writing toward the other while the other direction
// flows; a reset goes on as a reset (SO_LINGER 0) and is recorded as one; at
// most one buffer is held per direction, its source unread meanwhile.
class RelayConnection final : private FaultTarget
{
public:
    using Side = Flow::Side;
    static constexpr Side Client = Flow::Client;
    static constexpr Side Upstream = Flow::Upstream;
    using Reason = ConnectionRecord::CloseReason; // why it ended: a value; text only for display
    // How it ends: both sides closed (each gets its FIN); the same after
    // reading what each sent and will not be relayed (a FIN, not a reset);
    // one side reset, when the other failed (not a complete connection).
    enum class End { Close, Drain, ResetClient, ResetUpstream };
    enum class Phase { Resolving, Connecting, Handshaking, Relaying, Finished };

    // clientFd: accepted, non-blocking (Listener makes it so); peer: its address, if accept4() gave it.
    RelayConnection(Worker &worker, quint64 id, int clientFd, const SocketAddress &peer);
    ~RelayConnection(); // not copied: its flows are not

    // --- for the worker
    void begin();
    void resolved(const ResolveResult &result);
    static constexpr std::uintptr_t TagBits = ConnectionLegs::TagBits;
    void handleEvent(std::uintptr_t tag, std::uint32_t events); // tag: ConnectionLegs'
    void pumpAgain(Side side); // a source had more than a wake-up's share
    void checkTimeouts(qint64 nowMs); // the connect, idle and half-close timeouts
    // The one way it ends: now.
    void end(Reason reason, const QString &why, End how = End::Close);
    // What is done to it on purpose: act() a fault now, closeCleanly().
    FaultDriver &faults(); // made on first need: most connections have no rule and no user's action
    HttpFaultGate *httpGate() const { return m_faults ? m_faults->httpGate() : nullptr; }
    // The worker's rules changed: their conditions replace the old ones
    // (a direction the user throttled by hand keeps that throttle).
    void rulesChanged();

    bool isFinished() const override { return m_phase == Phase::Finished; }
    quint64 id() const { return m_record.id; }
    ConnectionRecord snapshot() const;

    size_t slot = 0; // the worker's bookkeeping
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
    // Acts on what a call on flow reported; false once the connection ended.
    bool settle(Flow &flow, const FlowResult &result) override;
    // What watches the flows' bytes (forFlows() is what a flow is given).
    FlowFilters &filters() { return m_filters; }
    bool forward(Flow &flow, QByteArrayView bytes); // the policy's bytes: shown, sent, settled
    ConnectionLife &life() { return m_life; } // marks, the first FIN, the close
    void touched();
    void markDirty();
    // A mark on side's lane, timed now (or at atUs, monotonic).
    void mark(TimelineMark::Kind kind, Side side, qint32 code = 0, const QString &note = QString(), qint64 atUs = -1);
    void passFin(Side toward); // shuts down writing to it
    // The upstream leg goes to host (with tls, speaking TLS checked for host).
    void reachUpstream(const QString &host, quint16 port, bool tls = false);
    // Ends the client's TLS (hello: what it sent) with proxymon's
    // certificate for name, and speaks TLS to upstreamName (empty: proxymon's
    // own page); then the flows carry plaintext. False, with why and nothing
    // changed, when no certificate can be had.
    bool intercept(const TlsServerContext &server, const QByteArray &hello, const ClientHello &parsed, const QString &name,
                   const QString &upstreamName, QString *why);
    ConnectionTls &tls() { return m_tls; }
    // An intercepted client left without a byte of HTTP, as one that pins
    // certificates does (ConnectionTls::leftSilently()).
    void noteSilentRejection(const QString &how);
    void adoptUpstream(int fd, const QString &address); // fd: connected to address
    int detachUpstream() { return m_legs.detachUpstream(); } // taken out, open
    void closeUpstream();
    void sideFailed(Side side, int error);
    // The policy from now on; the current one (maybe the caller) lives on.
    void setPolicy(std::unique_ptr<SessionPolicy> policy);
    void yield(Side side);

private:
    // FaultTarget
    bool isRelaying() const override { return m_phase == Phase::Relaying; }
    void conditionsChanged(Flow &flow) override;
    void filterStopChanged(Flow &flow) override;
    void resetSide(Side side) override;
    void passFin(Flow &flow) override;
    void endByFault(const QString &why, bool drain) override;
    void markFault(qint32 code, const QString &why) override;
    void describeConditions(const QString &text) override;

    void connectDelayOver();
    // A shaped flow's bytes are due.
    void upDue() { settle(m_up, m_up.wake()); }
    void downDue() { settle(m_down, m_down.wake()); }
    // The way to an upstream: what each of its steps said to do next.
    void reaching(const UpstreamReach::Outcome &outcome);
    void handshake(); // moves both TLS handshakes on; acts on what came of them
    void replaceLeg(Side side, Leg &replacement); // under both flows, for side's leg
    void established(std::uint32_t events); // the upstream leg is ready for bytes

    Worker &m_worker;
    ConnectionRecord m_record;
    ConnectionLife m_life;
    ConnectionLegs m_legs;
    ConnectionTls m_tls; // its TLS legs stand in for m_legs' sockets under the flows
    Phase m_phase = Phase::Resolving;
    // The flows' wake timers (before the flows, which cancel them).
    MemberTimer<RelayConnection, &RelayConnection::upDue> m_upDue{*this};
    MemberTimer<RelayConnection, &RelayConnection::downDue> m_downDue{*this};
    Flow m_up;
    Flow m_down;
    ConnectionDeadlines m_deadlines;
    MemberTimer<RelayConnection, &RelayConnection::connectDelayOver> m_connectTimer{*this};

    UpstreamReach m_reach{m_legs.tcp(Upstream), m_life, m_record, m_tls};
    CaptureTap m_tap{m_worker, m_record, m_life.originUs()};
    FlowFilters m_filters; // points to the gate and m_tap
    std::unique_ptr<FaultDriver> m_faults; // faults()
    std::unique_ptr<SessionPolicy> m_policy;
    std::unique_ptr<SessionPolicy> m_retiredPolicy; // replaced while it ran
};
