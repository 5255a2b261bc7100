#include "httpproxypolicy.h"

#include "capage.h"
#include "forwardingpolicy.h"
#include "httpfaultgate.h"
#include "legreader.h"
#include "systemerror.h"
#include "relayconnection.h"
#include "worker.h"

#include <QNetworkInterface>

#include <sys/epoll.h>

#include <cerrno>

using State = ConnectionRecord::State;
using Phase = RelayConnection::Phase;
using Step = HttpProxyFront::Step;

HttpProxyPolicy::HttpProxyPolicy(RelayConnection &connection)
    : m_connection(connection)
    , m_front(connection.worker().config().headLimits(), connection.worker().config().viaToken)
{
    connection.setPhase(Phase::Relaying);
    ConnectionRecord &record = connection.record();
    record.state = State::Open;
    record.upstream.clear(); // each request names its own
    record.httpProxy = true;
    // The front reads every response byte, as the last of the
    // connection's filters (after the gate and the capture), so nothing
    // is spliced; the client's side is read by the front, not pumped.
    connection.filters().add(this);
    for (Flow *flow : {&connection.up(), &connection.down()}) {
        flow->setObserver(connection.filters().forFlows());
        flow->setSpliceAllowed(false);
    }
    // The front rewrites the requests; the up flow is fed them, so that
    // the conditions and faults on it apply as they do to a relay.
    connection.up().setFed(true);
    if (HttpFaultGate *gate = connection.httpGate()) {
        gate->setReadsRequests(false);
        m_front.setVetting([gate](const HttpHead &request) {
            HttpProxyFront::Answer instead;
            instead.status = gate->decide(request, &instead.why);
            return instead;
        });
    }
}

HttpProxyPolicy::~HttpProxyPolicy()
{
    m_connection.filters().remove(this);
}

bool HttpProxyPolicy::live() const
{
    return !m_retired && !m_connection.isFinished();
}

void HttpProxyPolicy::begin()
{
    // Edge-triggered: the client may have sent its request already.
    readClient();
    if (live())
        advance();
}

void HttpProxyPolicy::refuse(const QString &why)
{
    // An HTTP proxy says so in HTTP, like any other refusal.
    m_front.failed(403, why);
    advance();
}

bool HttpProxyPolicy::addressesResolved(const ResolveResult &result)
{
    for (const SocketAddress &address : result.addresses) {
        if (isOwnListener(address)) {
            m_connection.setPhase(Phase::Relaying);
            m_front.failed(508, QStringLiteral("request loop: %1 is this proxy's own address").arg(address.toString()));
            advance();
            return false;
        }
    }
    return true;
}

void HttpProxyPolicy::connected(std::uint32_t)
{
    if (m_tunnelConnect) {
        const QByteArray early = m_front.outgoing().toByteArray();
        if (m_connection.forward(m_connection.down(), HttpProxyFront::tunnelEstablished()))
            becomeByteRelay(early);
        return;
    }
    m_front.connected();
    advance();
}

void HttpProxyPolicy::connectFailed(Reason reason, const QString &why)
{
    // An HTTP proxy answers the request that needed this upstream.
    m_connection.closeUpstream();
    m_connection.setPhase(Phase::Relaying);
    m_front.failed(reason == Reason::Timeout ? 504 : 502, why);
    advance();
}

void HttpProxyPolicy::handleEvent(Side side, std::uint32_t events)
{
    Flow &down = m_connection.down();
    if (side == Side::Upstream) {
        Flow &up = m_connection.up();
        if ((events & EPOLLOUT) && up.pending() && !m_connection.settle(up, up.flush()))
            return;
        if (events & EPOLLERR) {
            // What the upstream sent before failing still goes to the client.
            m_connection.settle(down, down.pump());
            if (!live())
                return;
            if (const int error = m_connection.leg(side).pendingError())
                m_connection.sideFailed(side, error);
            if (m_connection.isFinished())
                return;
        }
        if (m_connection.leg(side).isOpen() && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)))
            m_connection.settle(down, down.pump());
    } else {
        if (events & EPOLLERR) {
            const int error = m_connection.leg(side).pendingError();
            m_connection.sideFailed(side, error ? error : ECONNRESET);
            return;
        }
        if ((events & EPOLLOUT) && down.pending() && !m_connection.settle(down, down.flush()))
            return;
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
            readClient();
    }
    if (live())
        advance();
}

void HttpProxyPolicy::pumpAgain(Side side)
{
    if (side == Side::Client)
        readClient();
    else
        m_connection.settle(m_connection.down(), m_connection.down().pump());
    if (live())
        advance();
}

FlowObserver::Verdict HttpProxyPolicy::seen(bool, const char *data, qsizetype size)
{
    m_front.upstreamBytes(QByteArrayView(data, size));
    return Verdict::goOn(); // the front holds back what is not to go by itself
}

void HttpProxyPolicy::readClient()
{
    Flow &up = m_connection.up();
    // A stall of up (a fault) stops this reading as it stops a flow's.
    if (up.ended() || up.paused() || m_connection.isFinished())
        return;
    Worker &worker = m_connection.worker();
    const int capacity = worker.config().bufferBytes;
    int rounds = 8;
    const LegReader::Result read = LegReader::read(
        m_connection.leg(Side::Client), worker.scratch(), &rounds,
        [this, capacity]() -> qsizetype {
            if (m_closingClient || m_front.wantsClientBytes(capacity))
                return capacity;
            // Backpressure: advance() reads on once the upstream took some.
            m_clientThrottled = true;
            return 0;
        },
        [this](const char *data, qsizetype received) { return clientRead(data, received); });
    // Empty or stopped: an edge, or advance(), brings it back.
    if (read.outcome == LegReader::Outcome::Share)
        m_connection.yield(Side::Client);
    else if (read.outcome == LegReader::Outcome::Ended)
        clientEnded();
    else if (read.outcome == LegReader::Outcome::Failed)
        m_connection.sideFailed(Side::Client, read.error);
}

bool HttpProxyPolicy::clientRead(const char *data, qsizetype received)
{
    Flow &up = m_connection.up();
    m_connection.touched();
    if (!m_connection.settle(up, up.noteRead()))
        return false; // a fault on the first data
    // Once the answer is given, what the client still sends is read only
    // so that closing does not reset the connection.
    if (m_closingClient)
        return true;
    // The record shows what the front carries out or answers, not
    // requests queued behind a refusal or a close.
    const qsizetype taken = m_front.clientBytes(QByteArrayView(data, received));
    if (taken > 0)
        up.show(data, taken);
    // The front gave up on the upstream (a request it can no longer
    // finish): nothing more from it may reach the client.
    if (!m_front.hasUpstream() && m_connection.leg(Side::Upstream).isOpen() && m_connection.phase() == Phase::Relaying)
        dropUpstream();
    return !m_connection.isFinished();
}

void HttpProxyPolicy::clientEnded()
{
    m_connection.up().markEnded();
    m_connection.mark(TimelineMark::Kind::Fin, Side::Client);
    m_connection.life().halfClosed(Side::Client);
    m_connection.touched();
    m_connection.markDirty();
    if (m_closingClient) {
        if (m_connection.down().finPassed())
            m_connection.end(m_endReason, m_connection.record().error);
        return;
    }
    m_connection.record().state = State::ClientHalfClosed;
    m_front.clientEnded();
}

void HttpProxyPolicy::advance()
{
    const int capacity = m_connection.worker().config().bufferBytes;
    Flow &up = m_connection.up();
    Flow &down = m_connection.down();
    Leg &upstream = m_connection.leg(Side::Upstream);
    for (int round = 0;; ++round) {
        // Once closing, the client has had its answer and nothing else.
        if (!live() || m_closingClient)
            return;
        if (round == 64) {
            // A long upload: the other ready connections get a turn, and
            // this one goes on after them (no new edge would bring it back).
            m_connection.yield(Side::Client);
            break;
        }
        if (m_front.becameOpaque()) {
            becomeByteRelay(m_front.outgoing().toByteArray());
            return;
        }
        const Step step = m_front.step();
        const bool relaying = m_connection.phase() == Phase::Relaying;
        if (step == Step::Send && relaying && upstream.isOpen()) {
            const QByteArrayView out = m_front.outgoing();
            const qsizetype n = qMin(out.size(), up.roomToFeed());
            if (n > 0) {
                // A FIN due while feeding is advance()'s to look after.
                m_feeding = true;
                const FlowResult result = up.forward(out.data(), n);
                m_connection.settle(up, result);
                m_feeding = false;
                // A failed upstream may have been answered for instead.
                if (result.has(FlowResult::Failed))
                    continue;
                m_front.sent(n);
                m_connection.touched();
                continue;
            }
            // No room: the flow asks for more once it has some (after a
            // delay, or on EPOLLOUT from the upstream).
        } else if (relaying && (step == Step::Connect || (step == Step::Tunnel && !down.pending()))) {
            parkUpstream();
            if (step == Step::Connect && resumeParked(m_front.route()))
                continue;
            connectUpstream(m_front.route(), step == Step::Tunnel);
            return;
        } else if (step == Step::Answer && !down.pending()) {
            answerClient();
            return;
        }
        // Read on if the client was held back and there is room again.
        if (m_clientThrottled && !up.ended() && m_front.wantsClientBytes(capacity)) {
            m_clientThrottled = false;
            readClient();
            continue;
        }
        break;
    }
    if (!live() || m_closingClient)
        return;
    const bool relaying = m_connection.phase() == Phase::Relaying;
    if (clientFinDue())
        passClientFin();
    if (m_front.idle() && !down.pending() && relaying) {
        if (up.ended())
            m_connection.end(Reason::ClientFin, QString());
        else if (m_front.closeWhenIdle())
            closeClientWhenFlushed(Reason::UpstreamFin);
    }
}

bool HttpProxyPolicy::clientFinDue() const
{
    // The client's FIN goes to the upstream once everything it sent before
    // it has (the lab's client: request, shutdown, read to EOF); a black
    // hole keeps it, as it does in a relay.
    const Flow &up = m_connection.up();
    return up.ended() && !up.finPassed() && !up.pending() && !up.discarding()
        && m_connection.leg(Side::Upstream).isOpen() && m_connection.phase() == Phase::Relaying
        && m_front.step() == Step::Wait && m_front.outgoing().isEmpty();
}

void HttpProxyPolicy::passClientFin()
{
    m_connection.up().markFinPassed();
    m_connection.passFin(Side::Upstream);
}

void HttpProxyPolicy::connectUpstream(const HttpProxyFront::Route &route, bool tunnel)
{
    dropUpstream();
    m_tunnelConnect = tunnel;
    m_tunnelHost = route.host;
    m_connection.record().upstream = route.text();
    // proxymon.test is proxymon's own page, whatever the port asked.
    const ProxyConfig &config = m_connection.worker().config();
    m_ownPage = config.caPagePlainPort && route.host.compare(QLatin1String(CaPage::Host), Qt::CaseInsensitive) == 0;
    if (m_ownPage) {
        m_connection.reachUpstream(QStringLiteral("127.0.0.1"), tunnel ? config.caPageDecryptedPort : config.caPagePlainPort);
        return;
    }
    m_connection.reachUpstream(route.host, route.port);
}

void HttpProxyPolicy::parkUpstream()
{
    // Only an upstream that owes nothing and said it stays open is kept.
    const Flow &up = m_connection.up();
    if (!m_connection.leg(Side::Upstream).isOpen() || !m_front.upstreamReusable() || m_front.inFlight() > 0
        || up.finPassed() || up.pending())
        return;
    const QString address = m_connection.record().upstreamAddress;
    m_parked.park({m_front.connectedRoute(), m_connection.detachUpstream(), address});
    dropUpstream();
}

bool HttpProxyPolicy::resumeParked(const HttpProxyFront::Route &route)
{
    const UpstreamPark::Entry parked = m_parked.take(route);
    if (parked.fd < 0)
        return false;
    dropUpstream();
    m_connection.adoptUpstream(parked.fd, parked.address);
    ConnectionRecord &record = m_connection.record();
    record.upstream = route.text();
    record.state = m_connection.up().ended() ? State::ClientHalfClosed : State::Open;
    m_front.connected();
    return true;
}

void HttpProxyPolicy::dropUpstream()
{
    m_connection.closeUpstream();
    m_front.upstreamClosed();
    m_connection.settle(m_connection.up(), m_connection.up().newDestination());
}

void HttpProxyPolicy::flowEnded(Flow &)
{
    // Only the upstream's end comes here; the client's is read by readClient().
    m_connection.mark(TimelineMark::Kind::Fin, Side::Upstream);
    m_connection.touched();
    const HttpProxyFront::UpstreamEnd end = m_front.upstreamEnded();
    dropUpstream();
    // A response that ran to the end of the connection ends for the client
    // the same way; otherwise an idle upstream just goes, or a request it
    // left unanswered gets a 502 from advance().
    if (end == HttpProxyFront::UpstreamEnd::PassOn)
        closeClientWhenFlushed(Reason::UpstreamFin);
}

void HttpProxyPolicy::finDue(Flow &flow)
{
    if (flow.finPassed())
        return;
    if (flow.fromClient()) {
        // The up flow delivered what it was fed, after the client's FIN:
        // the FIN goes if the front has nothing more for this upstream,
        // or the front is asked for more. advance() looks after it while
        // it feeds.
        if (m_feeding)
            return;
        if (clientFinDue())
            passClientFin();
        else if (!flow.pending())
            m_connection.yield(Side::Client);
        return;
    }
    flow.markFinPassed();
    m_connection.passFin(flow.to());
    // The client has its FIN and had sent its own: done.
    if (flow.to() == Side::Client && m_connection.up().ended())
        m_connection.end(m_endReason, m_connection.record().error);
}

bool HttpProxyPolicy::sideFailed(Side side, int error)
{
    // Part of a response went out already: pass the failure on as a
    // failure (a reset), as in forwarding mode.
    if (side != Side::Upstream || m_front.responseUnderway())
        return false;
    const QString where = m_connection.record().upstream;
    const bool owed = m_front.inFlight() > 0;
    dropUpstream();
    if (owed)
        m_front.failed(502, QStringLiteral("%1: %2").arg(where, SystemError::text(error)));
    return true;
}

bool HttpProxyPolicy::endDecided(Reason *reason) const
{
    if (!m_closingClient)
        return false;
    *reason = m_endReason;
    return true;
}

void HttpProxyPolicy::ended()
{
    m_parked.clear();
}

void HttpProxyPolicy::answerClient()
{
    const HttpProxyFront::Answer answer = m_front.answer();
    const QByteArray bytes = HttpProxyFront::answerBytes(answer);
    dropUpstream();
    m_connection.record().error = answer.why;
    // Nothing else waits for the client here.
    if (m_connection.forward(m_connection.down(), bytes))
        closeClientWhenFlushed(Reason::Error);
}

void HttpProxyPolicy::closeClientWhenFlushed(Reason reason)
{
    m_closingClient = true;
    m_endReason = reason;
    dropUpstream();
    m_parked.clear();
    // The half-close timeout bounds how long the client may keep sending.
    m_connection.life().halfClosed(Side::Upstream);
    Flow &down = m_connection.down();
    down.markEnded();
    if (!m_connection.up().ended())
        m_connection.record().state = State::UpstreamHalfClosed;
    m_connection.markDirty();
    if (!down.pending())
        finDue(down);
    // Closing with unread input would reset the connection and could
    // destroy the answer: read the client to its FIN first.
    if (!m_connection.isFinished())
        readClient();
}

void HttpProxyPolicy::becomeByteRelay(const QByteArray &early)
{
    // From here the connection is an exact relay between the client and
    // the current upstream (a CONNECT tunnel, or an upgraded protocol):
    // forwarding takes over, and this policy only returns.
    m_retired = true;
    m_parked.clear();
    m_connection.filters().remove(this); // the forwarding policy gives the flows the rest
    Flow &up = m_connection.up();
    up.setFed(false);
    m_connection.record().state = up.ended() ? State::ClientHalfClosed : State::Open;
    m_connection.markDirty();
    auto forwarding = std::make_unique<ForwardingPolicy>(m_connection);
    ForwardingPolicy *relay = forwarding.get();
    m_connection.setPolicy(std::move(forwarding));
    if (m_tunnelConnect) {
        // What a client says inside a tunnel may be TLS to decrypt.
        relay->takeOverTunnel(m_tunnelHost, early, m_ownPage);
        return;
    }
    // Bytes the client sent after its request go next (after what up
    // holds still); then its FIN, or what it sends next.
    if (!early.isEmpty())
        up.hold(early.constData(), early.size());
    if (m_connection.settle(up, up.flush()))
        m_connection.settle(m_connection.down(), m_connection.down().pump());
}

bool HttpProxyPolicy::isOwnListener(const SocketAddress &address) const
{
    const ProxyConfig &config = m_connection.worker().config();
    if (address.port() != config.listenPort)
        return false;
    const QHostAddress host(address.data());
    const QHostAddress &listen = config.listenAddress;
    if (listen == QHostAddress::Any || listen == QHostAddress::AnyIPv4 || listen == QHostAddress::AnyIPv6)
        return host.isLoopback() || QNetworkInterface::allAddresses().contains(host);
    return host.isEqual(listen, QHostAddress::TolerantConversion);
}
