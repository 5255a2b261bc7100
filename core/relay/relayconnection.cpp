#include "relayconnection.h"

#include "forwardingpolicy.h"
#include "httpfaultgate.h"
#include "httpproxypolicy.h"
#include "monotonicclock.h"
#include "systemerror.h"
#include "tlsclientcontext.h"
#include "tlsinterception.h"
#include "worker.h"

#include <sys/epoll.h>

using State = ConnectionRecord::State;
using Mark = TimelineMark;

RelayConnection::RelayConnection(Worker &worker, quint64 id, int clientFd, const SocketAddress &peer)
    : m_worker(worker)
    , m_life(m_record, id)
    , m_legs(clientFd, peer, m_life, worker.epollDescriptor(), this)
    , m_tls(m_record, m_life, worker.upstreamTls(), worker.tls().interception.get())
    , m_up(Client, m_legs[Client], m_legs[Upstream], worker.flowShared(), &m_upDue)
    , m_down(Upstream, m_legs[Upstream], m_legs[Client], worker.flowShared(), &m_downDue)
    , m_deadlines(worker.nowMs())
{
    m_legs.describeClient(&m_record, worker.listenText());
    m_record.upstream = worker.targetText();
}

// end() closed both legs; their destructors back up a worker torn down.
RelayConnection::~RelayConnection() = default;

FaultDriver &RelayConnection::faults()
{
    if (!m_faults)
        m_faults = std::make_unique<FaultDriver>(static_cast<FaultTarget &>(*this), m_worker.flowShared(), m_worker.random());
    return *m_faults;
}

ConnectionRecord RelayConnection::snapshot() const
{
    ConnectionRecord record = m_record;
    m_tls.fillWire(&record, m_up.delivered(), m_down.delivered());
    m_tap.addPrefixes(&record);
    m_life.fill(&record.timeline, m_up, m_down, m_worker.wakeUs());
    return record;
}

void RelayConnection::mark(Mark::Kind kind, Side side, qint32 code, const QString &note, qint64 atUs)
{
    m_life.mark(kind, ConnectionLife::laneOf(side), code, note, atUs);
    markDirty();
}

bool RelayConnection::settle(Flow &flow, const FlowResult &result)
{
    using Event = FlowResult::Event;
    if (isFinished())
        return false;
    if (result.has(Event::Moved))
        touched();
    if (m_life.noted(flow, result) || result.has(Event::Delivered))
        markDirty();
    if (result.has(Event::FirstBytes) && m_faults) {
        // Before the bytes are relayed: a fault on first data acts on them.
        m_faults->firstBytes();
        if (isFinished())
            return false;
    }
    if (result.has(Event::FirstHeld)) {
        conditionsChanged(flow); // they go on as the faults left the flow
        return !isFinished();
    }
    if (result.has(Event::Ended))
        m_policy->flowEnded(flow);
    if (result.has(Event::Failed) && !isFinished())
        sideFailed(result.failedAt == FlowResult::At::Source ? flow.from() : flow.to(), result.error);
    if (result.has(Event::LimitReached) && !isFinished() && m_faults) // only faults and filters set limits
        m_faults->limitReached(flow, result.limitsMet);
    if (result.has(Event::FinDue) && !isFinished())
        m_policy->finDue(flow);
    if (result.has(Event::Yield) && !isFinished())
        yield(flow.from());
    return !isFinished();
}

void RelayConnection::passFin(Side toward)
{
    m_legs.passFin(toward);
    markDirty();
}

void RelayConnection::begin()
{
    // Watched from the start, so that a client's reset while the upstream is still
    // being reached ends the attempt; its data waits in the kernel until it is connected.
    m_legs.watch(Client);

    const ProxyConfig &config = m_worker.config();
    const RuleSet &rules = m_worker.rules();
    // What watches the flows' bytes: what decides what they do, then the
    // capture, which records what was done.
    if (!rules.faults.isEmpty())
        faults().makeHttpGate(rules.faults, m_legs.clientAddress(), config.headLimits());
    if (HttpFaultGate *gate = httpGate())
        m_filters.add(gate);
    if (config.capture)
        m_filters.add(&m_tap);
    if (config.mode == ProxyConfig::Mode::HttpProxy)
        m_policy = std::make_unique<HttpProxyPolicy>(*this);
    else
        m_policy = std::make_unique<ForwardingPolicy>(*this);
    if (!config.allowedClients.isEmpty() && !config.clientAllowed(m_legs.clientAddress())) {
        m_policy->refuse(QStringLiteral("client %1 is not on the allow-list").arg(m_record.client));
        return;
    }
    if (!rules.conditions.isEmpty())
        m_reach.holdFirstConnect(faults().applyConditions(rules.conditions, m_legs.clientAddress(), true));
    if (!rules.faults.isEmpty()) {
        faults().arm(rules.faults, m_legs.clientAddress(), m_life.originUs());
        if (isFinished())
            return;
    }
    m_policy->begin();
}

void RelayConnection::conditionsChanged(Flow &flow)
{
    if (!settle(flow, flow.resume()))
        return;
    // A source read no more until now, or at another pace, is read on by its policy.
    if (m_phase == Phase::Relaying && !flow.paused() && !flow.finPassed())
        m_policy->pumpAgain(flow.from());
}

void RelayConnection::rulesChanged()
{
    if (m_faults || !m_worker.rules().conditions.isEmpty()) // none had a condition, nor has one now
        faults().rulesChanged(m_worker.rules().conditions, m_legs.clientAddress());
}

void RelayConnection::resetSide(Side side)
{
    if (!m_legs[side].isOpen() || m_legs.dead(side))
        return;
    flowTo(side).uncountUnacknowledged(); // before the socket that counts them goes
    m_legs.reset(side);
    markDirty();
}

void RelayConnection::passFin(Flow &flow)
{
    if (flow.finPassed())
        return;
    flow.markFinPassed();
    passFin(flow.to());
}

void RelayConnection::endByFault(const QString &why, bool drain)
{
    end(Reason::Fault, why, drain ? End::Drain : End::Close);
}

void RelayConnection::markFault(qint32 code, const QString &why)
{
    m_life.mark(Mark::Kind::Fault, Mark::Lane::Connection, code, why);
    markDirty();
}

void RelayConnection::describeConditions(const QString &text)
{
    if (text != m_record.conditions) {
        m_record.conditions = text;
        markDirty();
    }
}

void RelayConnection::connectDelayOver()
{
    if (!isFinished())
        reaching(m_reach.holdOver(m_worker.wakeUs()));
}

void RelayConnection::reachUpstream(const QString &host, quint16 port, bool tls)
{
    m_phase = Phase::Resolving;
    m_deadlines.reachingFrom(m_worker.nowMs());
    reaching(m_reach.start(host, port, tls, m_worker.wakeUs()));
}

void RelayConnection::resolved(const ResolveResult &result)
{
    // A late answer for an attempt that already timed out is dropped.
    if (m_phase == Phase::Resolving)
        reaching(m_reach.resolved(result));
}

void RelayConnection::reaching(const UpstreamReach::Outcome &outcome)
{
    using Next = UpstreamReach::Next;
    markDirty();
    switch (outcome.next) {
    case Next::Wait:
        if (outcome.heldUntilUs >= 0) { // a held connect: its timeout counts from the hold's end
            m_deadlines.reachingFrom(m_worker.nowMs() + (outcome.heldUntilUs - m_worker.wakeUs()) / 1000);
            m_worker.timers().schedule(&m_connectTimer, outcome.heldUntilUs);
        }
        return;
    case Next::LookUp:
        m_worker.lookUp(this, m_reach.host(), m_reach.port());
        return;
    case Next::Resolved:
        if (!m_policy->addressesResolved(m_reach.resolution()))
            return;
        m_phase = Phase::Connecting;
        reaching(m_reach.connect());
        return;
    case Next::Watch:
        m_legs.newUpstream();
        return;
    case Next::Connected:
    case Next::Secured:
        if (outcome.newSocket)
            m_legs.newUpstream();
        if (outcome.next == Next::Connected) {
            established(outcome.events);
            return;
        }
        // The TLS leg takes the socket over; the flows use it from now on.
        replaceLeg(Upstream, *outcome.leg);
        m_phase = Phase::Handshaking;
        touched();
        handshake();
        return;
    case Next::Failed:
        if (outcome.outOfDescriptors)
            m_worker.descriptorsExhausted();
        m_policy->connectFailed(Reason::Error, outcome.why);
        return;
    }
}

void RelayConnection::replaceLeg(Side side, Leg &replacement)
{
    Leg &old = m_legs.replace(side, replacement);
    m_up.replaceLeg(old, replacement);
    m_down.replaceLeg(old, replacement);
}

bool RelayConnection::intercept(const TlsServerContext &server, const QByteArray &hello, const ClientHello &parsed,
                                const QString &name, const QString &upstreamName, QString *why)
{
    TlsLeg *tls = m_tls.startClient(m_legs.tcp(Client), server, hello, parsed, name, m_worker.nowMs(), why);
    if (!tls)
        return false;
    m_deadlines.reachingFrom(m_worker.nowMs());
    replaceLeg(Client, *tls);
    m_tap.startSecure();
    if (HttpFaultGate *gate = httpGate())
        gate->startSecure();
    m_phase = Phase::Handshaking;
    if (!upstreamName.isEmpty())
        reaching(m_reach.secure(upstreamName)); // both handshakes move on from there
    // The client's hello is read already: its answer goes now, also when
    // the upstream's TLS did not start (it is told why over its own).
    if (!isFinished() && !m_tls.upstream())
        handshake();
    return true;
}

void RelayConnection::handshake()
{
    using Next = ConnectionTls::Progress::Next;
    const ConnectionTls::Progress progress = m_tls.advance(m_worker.nowMs());
    markDirty();
    switch (progress.next) {
    case Next::Pending:
        return;
    case Next::Ready:
        established(EPOLLIN); // bytes may already wait inside OpenSSL: read as if the socket said so
        return;
    case Next::Failed:
        // With an intercepted client, whose TLS is up: the policy tells it
        // why there is no upstream once it asks.
        m_policy->connectFailed(Reason::Error, progress.why);
        return;
    case Next::Rejected:
        end(Reason::Error, m_tls.rejected(progress.why));
        return;
    }
}

void RelayConnection::noteSilentRejection(const QString &how)
{
    if (m_tls.leftSilently(how, m_record.requests > 0 || m_up.delivered() > 0, m_worker.nowMs()))
        markDirty();
}

void RelayConnection::established(std::uint32_t events)
{
    m_phase = Phase::Relaying;
    // An HTTP proxy's client may have sent its FIN with its request.
    m_record.state = m_up.ended() ? State::ClientHalfClosed : State::Open;
    touched();
    markDirty();
    m_policy->connected(events);
}

void RelayConnection::closeUpstream()
{
    m_legs.close(Upstream);
    markDirty();
    if (std::unique_ptr<TlsLeg> tls = m_tls.takeUpstream())
        replaceLeg(Upstream, m_legs.tcp(Upstream));
}

void RelayConnection::adoptUpstream(int fd, const QString &address)
{
    closeUpstream();
    m_reach.adopt(fd, address);
    m_legs.newUpstream();
    markDirty();
}

void RelayConnection::handleEvent(std::uintptr_t tag, std::uint32_t events)
{
    if (isFinished() || !m_legs.current(tag))
        return; // or about an upstream socket already closed
    const Side side = Side(tag & 1);
    if (side == Upstream && m_phase == Phase::Connecting)
        reaching(m_reach.ready(events));
    else if (side == Upstream ? m_phase == Phase::Handshaking && m_tls.upstreamHandshaking() : m_tls.clientHandshaking())
        handshake();
    else
        m_policy->handleEvent(side, events);
}

void RelayConnection::pumpAgain(Side side)
{
    if (!isFinished())
        m_policy->pumpAgain(side);
}

void RelayConnection::yield(Side side)
{
    m_worker.pumpLater(this, side);
}

void RelayConnection::sideFailed(Side side, int error)
{
    const bool reset = SystemError::isReset(error);
    if (m_legs.died(side))
        mark(reset ? Mark::Kind::Reset : Mark::Kind::Failed, side, error);
    if (m_policy->sideFailed(side, error))
        return;
    // The other side is reset, so that it does not take a broken
    // connection for a complete one.
    const Reason reason = !reset ? Reason::Error : side == Client ? Reason::ClientReset : Reason::UpstreamReset;
    end(reason, reset ? QString() : m_tls.failure(side, error), side == Client ? End::ResetUpstream : End::ResetClient);
}

void RelayConnection::end(Reason reason, const QString &why, End how)
{
    if (isFinished())
        return;
    QString text = why;
    if (how == End::Drain) {
        m_legs.discardUnread(Client, m_worker.scratch(), m_worker.config().bufferBytes);
        m_legs.discardUnread(Upstream, m_worker.scratch(), m_worker.config().bufferBytes);
    } else if (how != End::Close) {
        const Side other = how == End::ResetClient ? Client : Upstream;
        m_up.uncountUnacknowledged();
        m_down.uncountUnacknowledged();
        if (!m_legs.reset(other))
            m_legs[other].close(true);
        // Once the end was decided (an HTTP proxy answered and is closing), how the
        // client then leaves (curl resets a 502 unread) does not replace what proxymon knew.
        if (m_policy->endDecided(&reason))
            text = m_record.error;
    }
    m_phase = Phase::Finished;
    m_worker.timers().cancel(&m_connectTimer);
    if (m_faults)
        m_faults->stop();
    // Closing a leg sends its FIN, unless one went already or the side is
    // gone; a wait for a destination cut short by the end is marked too.
    const qint64 now = MonotonicClock::nowUs();
    for (const Side side : {Client, Upstream}) {
        m_legs.close(side, now);
        m_life.endsWhileWaiting(side, flowTo(side).waitingSinceUs(), now);
    }
    if (m_policy)
        m_policy->ended();
    m_up.release(true);
    m_down.release(true);
    m_tap.finish();
    m_life.closed(reason, text, now);
    markDirty();
    m_worker.connectionFinished(this);
}

void RelayConnection::setPolicy(std::unique_ptr<SessionPolicy> policy)
{
    m_retiredPolicy = std::move(m_policy);
    m_policy = std::move(policy);
}

void RelayConnection::checkTimeouts(qint64 nowMs)
{
    if (isFinished())
        return;
    using Expired = ConnectionDeadlines::Expired;
    const ProxyConfig &config = m_worker.config();
    const bool handshaking = m_phase == Phase::Handshaking && m_tls.upstreamHandshaking();
    const Expired expired = m_deadlines.check(
        nowMs, config, {m_tls.clientHandshaking(), m_tls.handshakeStartedMs(),
                        m_phase == Phase::Resolving || m_phase == Phase::Connecting || handshaking, m_life.isHalfClosed()});
    if (expired == Expired::Nothing)
        return;
    if (expired == Expired::Reaching) {
        const QString why = m_reach.timedOut(config.connectTimeoutMs, handshaking);
        markDirty();
        m_policy->connectFailed(Reason::Timeout, why);
        return;
    }
    m_life.mark(Mark::Kind::Timeout, expired == Expired::ClientHandshake ? Mark::Lane::Client : Mark::Lane::Connection,
                0, ConnectionDeadlines::note(expired));
    end(Reason::Timeout, ConnectionDeadlines::why(expired, config));
}

void RelayConnection::touched()
{
    m_deadlines.touched(m_worker.nowMs());
}

void RelayConnection::markDirty()
{
    m_worker.markDirty(this);
}

bool RelayConnection::forward(Flow &flow, QByteArrayView bytes)
{
    flow.show(bytes.data(), bytes.size());
    return settle(flow, flow.forward(bytes.data(), bytes.size()));
}

void RelayConnection::filterStopChanged(Flow &flow)
{
    flow.takeFilterStop(m_filters.stopAt(flow.fromClient()));
}
