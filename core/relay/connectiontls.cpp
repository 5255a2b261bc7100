#include "connectiontls.h"

#include "clienthello.h"
#include "systemerror.h"
#include "tcpleg.h"
#include "tlsclientcontext.h"
#include "tlsinterception.h"
#include "tlsservercontext.h"

#include <cerrno>

ConnectionTls::ConnectionTls(ConnectionRecord &record, ConnectionLife &life, const TlsClientContext *upstream,
                             TlsInterception *interception)
    : m_record(record)
    , m_life(life)
    , m_context(upstream)
    , m_interception(interception)
{
}

ConnectionTls::Names &ConnectionTls::names()
{
    if (!m_names)
        m_names = std::make_unique<Names>();
    return *m_names;
}

TlsLeg *ConnectionTls::startUpstream(TcpLeg &tcp, const QString &host, qint64 nowMs)
{
    const bool check = !m_interception || !m_interception->listed(TlsInterception::Hosts::Insecure, host);
    SSL *ssl = m_context ? m_context->session(host, check) : nullptr;
    if (!ssl)
        return nullptr;
    names().upstreamFailure.clear();
    m_upstream = std::make_unique<TlsLeg>(tcp.detach(), ssl);
    names().upstreamHost = host;
    m_upstreamHandshaking = true;
    if (!m_clientHandshaking)
        m_handshakeStartedMs = nowMs;
    return m_upstream.get();
}

TlsLeg *ConnectionTls::startClient(TcpLeg &tcp, const TlsServerContext &server, const QByteArray &hello,
                                   const ClientHello &parsed, const QString &name, qint64 nowMs, QString *why)
{
    const auto type = parsed.offersEcdsa ? LeafCertificate::KeyType::Ecdsa : LeafCertificate::KeyType::Rsa;
    SSL *ssl = server.session({name}, type, why);
    if (!ssl)
        return nullptr;
    m_client = std::make_unique<TlsLeg>(tcp.detach(), ssl, hello);
    names().client = name;
    names().clientServer = parsed.serverName;
    m_record.clientTlsToWrite().serverName = parsed.serverName;
    m_clientHandshaking = true;
    m_handshakeStartedMs = nowMs;
    return m_client.get();
}

ConnectionTls::Progress ConnectionTls::advance(qint64 nowMs)
{
    const bool verifies = m_context && m_context->verifies();
    using Next = Progress::Next;
    Progress progress;
    TlsDetails details;
    QString why;
    if (m_upstreamHandshaking) {
        switch (stepUpstream(verifies, nowMs, &details, &why)) {
        case Step::Pending:
            break;
        case Step::Done:
            m_record.setUpstreamTls(details);
            done(Flow::Upstream, details);
            break;
        case Step::Failed:
            if (!m_client) {
                progress.next = Next::Failed;
                progress.why = why;
                return progress;
            }
            names().upstreamFailure = why;
            break;
        }
    }
    if (m_clientHandshaking) {
        switch (stepClient(nowMs, &details, &why)) {
        case Step::Pending:
            break;
        case Step::Done:
            m_record.setClientTls(details);
            m_record.decryption = ConnectionRecord::Decryption::Decrypted;
            done(Flow::Client, details);
            break;
        case Step::Failed:
            progress.next = Next::Rejected;
            progress.why = why;
            return progress;
        }
    }
    if (handshaking())
        return progress;
    progress.next = names().upstreamFailure.isEmpty() ? Next::Ready : Next::Failed;
    progress.why = names().upstreamFailure;
    return progress;
}

ConnectionTls::Step ConnectionTls::stepUpstream(bool verifies, qint64 nowMs, TlsDetails *details, QString *why)
{
    const Step step = m_upstream->handshake();
    if (step == Step::Pending)
        return step;
    m_upstreamHandshaking = false;
    if (step == Step::Done) {
        *details = this->details(*m_upstream, names().upstreamHost, nowMs);
        return step;
    }
    *why = QStringLiteral("TLS with %1 failed: %2").arg(names().upstreamHost, m_upstream->errorText());
    if (verifies && m_upstream->errorText().startsWith(QLatin1String("certificate")))
        *why += QStringLiteral(" (--insecure-host %1 relays it unchecked; --upstream-ca FILE trusts its issuer)")
                    .arg(names().upstreamHost);
    return step;
}

ConnectionTls::Step ConnectionTls::stepClient(qint64 nowMs, TlsDetails *details, QString *why)
{
    const Step step = m_client->handshake();
    if (step == Step::Pending)
        return step;
    m_clientHandshaking = false;
    if (step == Step::Done) {
        m_clientReadyMs = nowMs;
        *details = this->details(*m_client, names().clientServer, nowMs);
        return step;
    }
    const QString alert = m_client->peerAlert();
    if (!alert.isEmpty())
        *why = QStringLiteral("the client rejected proxymon's certificate for %1 (alert \"%2\")").arg(names().client, alert);
    else if (m_client->errorText().startsWith(QLatin1String("the connection closed")))
        *why = QStringLiteral("the client closed the connection during the TLS handshake for %1 "
                              "(it does not trust proxymon's certificate?)").arg(names().client);
    else
        *why = QStringLiteral("TLS with the client for %1 failed: %2").arg(names().client, m_client->errorText());
    return step;
}

void ConnectionTls::done(Flow::Side side, const TlsDetails &details)
{
    m_life.mark(TimelineMark::Kind::TlsDone, ConnectionLife::laneOf(side), 0, details.version);
}

QString ConnectionTls::rejected(const QString &why)
{
    m_record.decryption = ConnectionRecord::Decryption::Rejected;
    m_record.decryptionNote = why;
    if (m_interception)
        m_interception->clientRejected(names().client, why);
    return why + QStringLiteral("; its next connections pass through undecrypted");
}

bool ConnectionTls::leftSilently(const QString &how, bool anyByte, qint64 nowMs)
{
    // Right after: a client that stayed a while and then left without a
    // request merely had nothing to say.
    constexpr qint64 RightAfterMs = 2000;
    if (m_record.decryption != ConnectionRecord::Decryption::Decrypted || !m_client || m_clientHandshaking || anyByte
        || nowMs - m_clientReadyMs > RightAfterMs)
        return false;
    rejected(QStringLiteral("the client %1 right after the TLS handshake for %2 without a byte "
                            "(it pins its certificates?)").arg(how, names().client));
    return true;
}

QString ConnectionTls::failure(Flow::Side side, int error) const
{
    const TlsLeg *tls = side == Flow::Client ? m_client.get() : m_upstream.get();
    const QString what = error == EPROTO && tls && !tls->errorText().isEmpty()
                             ? QStringLiteral("TLS: ") + tls->errorText() : SystemError::text(error);
    return (side == Flow::Client ? QStringLiteral("client: ") : QStringLiteral("upstream: ")) + what;
}

void ConnectionTls::mirrorTruncation()
{
    if (m_client && m_upstream) {
        if (m_client->truncated())
            m_upstream->skipCloseNotify();
        if (m_upstream->truncated())
            m_client->skipCloseNotify();
    }
}

void ConnectionTls::fillWire(ConnectionRecord *snapshot, quint64 up, quint64 down) const
{
    snapshot->bytesUp = m_upstream ? m_upstream->wireBytesOut() : up;
    snapshot->bytesDown = m_client ? m_client->wireBytesOut() : down;
    snapshot->tlsTruncated = (m_client && m_client->truncated()) || (m_upstream && m_upstream->truncated());
}

TlsDetails ConnectionTls::details(const TlsLeg &leg, const QString &serverName, qint64 nowMs) const
{
    TlsDetails details;
    details.version = leg.version();
    details.cipher = leg.cipher();
    details.alpn = QString::fromLatin1(leg.alpn());
    details.serverName = serverName;
    details.handshakeMs = qint32(nowMs - m_handshakeStartedMs);
    if (&leg == m_upstream.get()) {
        details.verification = leg.verification();
        details.chainPem = leg.peerChainPem();
    }
    return details;
}
