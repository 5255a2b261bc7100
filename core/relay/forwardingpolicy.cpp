#include "forwardingpolicy.h"

#include "httpproxyfront.h"
#include "relayconnection.h"
#include "worker.h"

#include <sys/epoll.h>

#include <cerrno>

using State = ConnectionRecord::State;

ForwardingPolicy::ForwardingPolicy(RelayConnection &connection)
    : m_connection(connection)
{
    // Bulk transfers may splice; the capture sees what it needs.
    FlowObserver *tap = connection.captureTap();
    for (Flow *flow : {&connection.up(), &connection.down()}) {
        flow->setObserver(tap);
        flow->setSpliceAllowed(true);
    }
}

void ForwardingPolicy::begin()
{
    const ProxyConfig &config = m_connection.worker().config();
    m_connection.reachUpstream(config.targetHost, config.targetPort, config.targetTls);
}

void ForwardingPolicy::refuse(const QString &why)
{
    m_connection.finish(Reason::Error, why);
}

void ForwardingPolicy::connected(std::uint32_t events)
{
    // Edge-triggered: what the client sent while we were connecting raised
    // its edge long ago, so read it now rather than wait for more.
    m_connection.up().pump();
    if (!m_connection.isFinished() && (events & EPOLLIN))
        m_connection.down().pump();
}

void ForwardingPolicy::connectFailed(Reason reason, const QString &why)
{
    // A TLS upstream that failed its handshake (a bad certificate, most
    // often) is something a plain HTTP client can be told, in HTTP.
    if (m_connection.phase() == RelayConnection::Phase::Handshaking && answerInHttp(reason, why))
        return;
    // Otherwise the client gets an orderly close: nothing was relayed, and
    // a reset would only hide the fact that the proxy answered.
    m_connection.finish(reason, why);
}

bool ForwardingPolicy::answerInHttp(Reason reason, const QString &why)
{
    Leg &client = m_connection.leg(Side::Client);
    char start[16];
    const ssize_t seen = client.peek(start, sizeof start);
    if (seen <= 0 || !looksLikeRequest(QByteArrayView(start, seen)))
        return false;
    // The request is read (and shown to the capture, so that the exchange
    // has both halves) before the answer goes: closing with it unread
    // would reset the connection and could destroy the answer.
    char *scratch = m_connection.worker().scratch();
    const int capacity = m_connection.worker().config().bufferBytes;
    bool drained = false;
    for (int round = 0; round < 8 && !drained; ++round) {
        const ssize_t n = client.read(scratch, size_t(capacity), &drained);
        if (n <= 0)
            break;
        m_connection.capture(m_connection.up(), scratch, n);
    }
    const QByteArray answer = HttpProxyFront::answerBytes({reason == Reason::Timeout ? 504 : 502, why});
    m_connection.capture(m_connection.down(), answer.constData(), answer.size());
    const ssize_t sent = client.write(answer.constData(), size_t(answer.size()));
    if (sent > 0)
        m_connection.down().countDelivered(quint64(sent));
    client.shutdownWrite();
    m_connection.finish(reason, why);
    return true;
}

bool ForwardingPolicy::looksLikeRequest(QByteArrayView start)
{
    // A method token, then a space: "GET ", "POST ", "OPTIONS "...
    for (qsizetype i = 0; i < start.size(); ++i) {
        const char c = start[i];
        if (c == ' ')
            return i > 0;
        if (c < 'A' || c > 'Z')
            return false;
    }
    return false;
}

void ForwardingPolicy::handleEvent(Side side, std::uint32_t events)
{
    if (m_connection.phase() != RelayConnection::Phase::Relaying) {
        // Still reaching the upstream: only the client's reset matters.
        if (side == Side::Client && (events & EPOLLERR)) {
            const int error = m_connection.leg(side).pendingError();
            m_connection.sideFailed(side, error ? error : ECONNRESET);
        }
        return;
    }
    Flow &from = m_connection.flowFrom(side);
    if (events & EPOLLERR) {
        // Deliver what the side sent before its reset, as a direct
        // connection would; the flow meets the error itself after the data.
        from.pump();
        if (m_connection.isFinished())
            return;
        if (const int error = m_connection.leg(side).pendingError()) {
            m_connection.sideFailed(side, error);
            return;
        }
    }
    Flow &into = m_connection.flowTo(side);
    if ((events & EPOLLOUT) && into.pending() && !into.flush())
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
        from.pump();
}

void ForwardingPolicy::pumpAgain(Side side)
{
    m_connection.flowFrom(side).pump();
}

void ForwardingPolicy::flowEnded(Flow &flow)
{
    flow.markEnded();
    m_connection.noteFin(flow.from());
    m_connection.touched();
    const bool upEnded = m_connection.up().ended();
    if (!upEnded || !m_connection.down().ended())
        m_connection.record().state = upEnded ? State::ClientHalfClosed : State::UpstreamHalfClosed;
    m_connection.markDirty();
    if (!flow.pending())
        finDue(flow);
}

void ForwardingPolicy::finDue(Flow &flow)
{
    if (flow.finPassed())
        return;
    flow.markFinPassed();
    // The last FIN of the two goes out with close() in finish(); a separate
    // shutdown() would only cost a system call per connection.
    if (!m_connection.up().finPassed() || !m_connection.down().finPassed()) {
        m_connection.leg(flow.to()).shutdownWrite();
        return;
    }
    // Both sides said FIN and everything they sent has been handed to the
    // kernel: closing now loses nothing.
    m_connection.finish(m_connection.firstFin() == Side::Client ? Reason::ClientFin : Reason::UpstreamFin, QString());
}
