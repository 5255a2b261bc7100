#include "forwardingpolicy.h"

#include "clienthello.h"
#include "httpfaultgate.h"
#include "httpproxyfront.h"
#include "legreader.h"
#include "relayconnection.h"
#include "tlsinterception.h"
#include "tlsservercontext.h"
#include "worker.h"

#include <sys/epoll.h>

#include <cerrno>

using State = ConnectionRecord::State;

ForwardingPolicy::ForwardingPolicy(RelayConnection &connection)
    : m_connection(connection)
{
    // Bulk transfers may splice; the capture sees what it needs. HTTP
    // faults must see each byte of what they follow before it goes, and
    // read the requests from here on (the gate says what may splice).
    FlowObserver *tap = connection.filters().forFlows();
    for (Flow *flow : {&connection.up(), &connection.down()}) {
        flow->setObserver(tap);
        flow->setSpliceAllowed(true);
    }
    if (HttpFaultGate *gate = connection.httpGate())
        gate->setReadsRequests(true);
}

void ForwardingPolicy::begin()
{
    const ProxyConfig &config = m_connection.worker().config();
    // A client of a tls: target speaks plain TCP; any other may speak TLS
    // proxymon can read.
    if (!config.targetTls)
        m_sniffHost = config.targetHost;
    m_connection.reachUpstream(config.targetHost, config.targetPort, config.targetTls);
}

void ForwardingPolicy::takeOverTunnel(const QString &host, const QByteArray &early, bool plainUpstream)
{
    m_sniffHost = host;
    m_plainUpstream = plainUpstream;
    m_sniffed = early;
    m_shown = early.size(); // the HTTP front showed the capture these
    m_sniffing = true;
    // An answer still on its way to the client, or a client that has
    // finished already: nothing to decrypt.
    if (m_connection.down().pending() || m_connection.up().ended()) {
        relayAsIs();
        return;
    }
    // The upstream may have spoken while the tunnel was being set up; its
    // edge went by while the HTTP front was in charge.
    char first;
    if (m_connection.leg(Side::Upstream).peek(&first, 1) >= 0 || errno != EAGAIN) {
        relayAsIs();
        return;
    }
    sniff();
}

void ForwardingPolicy::refuse(const QString &why)
{
    m_connection.end(Reason::Error, why);
}

void ForwardingPolicy::connected(std::uint32_t events)
{
    if (!m_sniffHost.isEmpty() && !m_connection.tls().intercepted()) {
        m_sniffing = true;
        // The upstream spoke first: not a TLS client.
        if (events & EPOLLIN) {
            relayAsIs();
            return;
        }
        sniff();
        return;
    }
    // Edge-triggered: what the client sent while we were connecting raised
    // its edge long ago, so read it now rather than wait for more.
    Flow &up = m_connection.up();
    Flow &down = m_connection.down();
    if (m_connection.settle(up, up.pump()) && (events & EPOLLIN))
        m_connection.settle(down, down.pump());
}

void ForwardingPolicy::connectFailed(Reason reason, const QString &why)
{
    if (m_connection.tls().intercepted()) {
        m_connection.setPhase(RelayConnection::Phase::Relaying);
        m_failed = true;
        m_failure = reason;
        m_failureWhy = why;
        answerFailure();
        return;
    }
    // A TLS upstream that failed its handshake (a bad certificate, most
    // often) is something a plain HTTP client can be told, in HTTP.
    if (m_connection.phase() == RelayConnection::Phase::Handshaking && answerInHttp(reason, why))
        return;
    // Otherwise the client gets an orderly close: nothing was relayed, and
    // a reset would only hide the fact that the proxy answered.
    m_connection.end(reason, why);
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
    const qsizetype capacity = m_connection.worker().config().bufferBytes;
    int rounds = 8;
    Flow &up = m_connection.up();
    LegReader::read(client, m_connection.worker().scratch(), &rounds, [capacity] { return capacity; },
                    [&](const char *data, qsizetype received) {
                        if (!m_connection.settle(up, up.noteRead()))
                            return false;
                        up.show(data, received);
                        return true;
                    });
    if (m_connection.isFinished())
        return true;
    const QByteArray answer = HttpProxyFront::answerBytes({reason == Reason::Timeout ? 504 : 502, why});
    m_connection.down().show(answer.constData(), answer.size());
    const ssize_t sent = client.write(answer.constData(), size_t(answer.size()));
    if (sent > 0)
        m_connection.down().countDelivered(quint64(sent));
    m_connection.passFin(Side::Client);
    m_connection.end(reason, why);
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

void ForwardingPolicy::sniff()
{
    // Sniffing reads the client: not while up is stalled (pumpAgain()
    // comes back here once it resumes).
    if (m_connection.up().paused())
        return;
    using Status = ClientHello::Status;
    Flow &up = m_connection.up();
    const qsizetype capacity = m_connection.worker().config().bufferBytes;
    ClientHello hello;
    Status status = ClientHello::parse(m_sniffed, &hello);
    bool handedOn = false; // a fault on the first data ended the connection
    QByteArrayView notHello; // the first read, which is not a ClientHello
    int rounds = 64;
    const LegReader::Result read = LegReader::read(
        m_connection.leg(Side::Client), m_connection.worker().scratch(), &rounds,
        [&]() -> qsizetype { return status == Status::NeedMore ? qMin(ClientHello::MaxBytes - m_sniffed.size(), capacity) : 0; },
        [&](const char *data, qsizetype received) {
            if (!m_connection.settle(up, up.noteRead())) {
                handedOn = true; // a fault on the first data
                return false;
            }
            if (m_sniffed.isEmpty()) {
                // Most connections tell what they are in their first read:
                // it is judged where it landed, and relayed from there.
                status = ClientHello::parse(QByteArrayView(data, received), &hello);
                if (status == Status::NotClientHello) {
                    notHello = QByteArrayView(data, received); // in the scratch buffer until the next read
                    return false;
                }
            }
            m_sniffed.append(data, received);
            status = ClientHello::parse(m_sniffed, &hello);
            return true;
        });
    if (handedOn)
        return;
    if (!notHello.isEmpty()) {
        relayAsIs(notHello, read.drained);
        return;
    }
    switch (read.outcome) {
    case LegReader::Outcome::Failed:
        m_sniffing = false;
        m_connection.sideFailed(Side::Client, read.error);
        return;
    case LegReader::Outcome::Share:
        m_connection.yield(Side::Client);
        return;
    case LegReader::Outcome::Empty:
        if (status == Status::NeedMore)
            return; // more will come, and raise the edge
        break;
    case LegReader::Outcome::Ended:   // its FIN: the relay meets it again after these bytes
    case LegReader::Outcome::Stopped: // judged, or as much as a hello may be
        break;
    }
    if (status == Status::Complete)
        decide(hello);
    else
        relayAsIs();
}

void ForwardingPolicy::decide(const ClientHello &hello)
{
    const Worker::Tls &tls = m_connection.worker().tls();
    const QString name = hello.serverName.isEmpty() ? m_sniffHost : hello.serverName;
    QString reason = tls.interception ? tls.interception->passthroughReason(name) : QStringLiteral("decryption is off");
    if (reason.isEmpty() && !hello.alpn.isEmpty()
        && !hello.alpn.contains(QByteArrayLiteral("http/1.1")) && !hello.alpn.contains(QByteArrayLiteral("http/1.0"))) {
        QStringList offered;
        for (const QByteArray &protocol : hello.alpn)
            offered.append(QString::fromLatin1(protocol));
        reason = QStringLiteral("the client offers only %1 in ALPN; proxymon reads HTTP/1.x").arg(offered.join(QLatin1String(", ")));
    }
    QString unavailable;
    const std::shared_ptr<const TlsServerContext> server = tls.interception ? tls.interception->server(&unavailable) : nullptr;
    if (reason.isEmpty() && !server)
        reason = QStringLiteral("not decrypted: %1").arg(unavailable);
    if (reason.isEmpty() && m_connection.intercept(*server, m_sniffed, hello, name,
                                                          m_plainUpstream ? QString() : name, &reason)) {
        m_sniffing = false;
        m_sniffed = QByteArray();
        return;
    }
    ConnectionRecord &record = m_connection.record();
    record.decryption = ConnectionRecord::Decryption::Passthrough;
    record.decryptionNote = reason;
    record.clientTlsToWrite().serverName = hello.serverName;
    m_connection.markDirty();
    relayAsIs();
}

void ForwardingPolicy::relayAsIs(QByteArrayView first, bool clientEmpty)
{
    m_sniffing = false;
    Flow &up = m_connection.up();
    if (!first.isEmpty()) {
        if (!m_connection.forward(up, first))
            return;
        // The client's first read, judged where it landed: the upstream
        // has nothing unread (an edge of its during the sniff comes here
        // with no bytes), and the client is read on unless that read
        // proved it empty. Two reads a connection that would find nothing.
        if (!clientEmpty || up.pending())
            m_connection.settle(up, up.flush());
        return;
    }
    if (!m_sniffed.isEmpty()) {
        if (m_sniffed.size() > m_shown)
            up.show(m_sniffed.constData() + m_shown, m_sniffed.size() - m_shown);
        up.hold(m_sniffed.constData(), m_sniffed.size());
        m_sniffed = QByteArray();
    }
    if (m_connection.settle(up, up.flush()))
        m_connection.settle(m_connection.down(), m_connection.down().pump());
}

void ForwardingPolicy::answerFailure()
{
    Leg &client = m_connection.leg(Side::Client);
    char start[16];
    const ssize_t seen = client.peek(start, sizeof start);
    if (seen < 0 && errno == EAGAIN)
        return; // the request has not come yet
    if (seen > 0 && looksLikeRequest(QByteArrayView(start, seen)) && answerInHttp(m_failure, m_failureWhy))
        return;
    m_connection.end(m_failure, m_failureWhy);
}

bool ForwardingPolicy::sideFailed(Side side, int error)
{
    if (side == Side::Client && m_connection.tls().intercepted())
        m_connection.noteSilentRejection(QStringLiteral("reset the connection"));
    Q_UNUSED(error);
    return false;
}

void ForwardingPolicy::handleEvent(Side side, std::uint32_t events)
{
    if (m_failed) {
        if (side == Side::Client)
            answerFailure();
        return;
    }
    if (m_sniffing) {
        if (side == Side::Upstream && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
            relayAsIs(); // the upstream spoke (or left) first: not a TLS client
        else if (side == Side::Client)
            sniff();
        return;
    }
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
        if (!m_connection.settle(from, from.pump()))
            return;
        if (const int error = m_connection.leg(side).pendingError()) {
            m_connection.sideFailed(side, error);
            return;
        }
    }
    Flow &into = m_connection.flowTo(side);
    if ((events & EPOLLOUT) && into.pending() && !m_connection.settle(into, into.flush()))
        return;
    if (events & EPOLLOUT)
        m_connection.leg(side).writable();
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
        m_connection.settle(from, from.pump());
}

void ForwardingPolicy::pumpAgain(Side side)
{
    // A stall that began before the first client bytes were judged ends
    // in the judging, not in the relay.
    if (m_sniffing && side == Side::Client) {
        sniff();
        return;
    }
    Flow &from = m_connection.flowFrom(side);
    m_connection.settle(from, from.pump());
}

void ForwardingPolicy::flowEnded(Flow &flow)
{
    if (m_connection.tls().intercepted()) {
        if (flow.fromClient())
            m_connection.noteSilentRejection(QStringLiteral("closed the connection"));
        m_connection.tls().mirrorTruncation();
    }
    flow.markEnded();
    m_connection.mark(TimelineMark::Kind::Fin, flow.from());
    m_connection.life().halfClosed(flow.from());
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
    // The last FIN of the two goes out with close() in end(); a separate
    // shutdown() would only cost a system call per connection.
    if (!m_connection.up().finPassed() || !m_connection.down().finPassed()) {
        m_connection.passFin(flow.to());
        return;
    }
    // Both sides said FIN and everything they sent has been handed to the
    // kernel: closing now loses nothing.
    m_connection.end(m_connection.life().firstFin() == Side::Client ? Reason::ClientFin : Reason::UpstreamFin, QString());
}
