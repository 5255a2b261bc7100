#include "connectionrecord.h"

QString ConnectionRecord::closeReasonName(CloseReason reason)
{
    switch (reason) {
    case CloseReason::None: return QStringLiteral("none");
    case CloseReason::ClientFin: return QStringLiteral("client_fin");
    case CloseReason::UpstreamFin: return QStringLiteral("upstream_fin");
    case CloseReason::ClientReset: return QStringLiteral("client_reset");
    case CloseReason::UpstreamReset: return QStringLiteral("upstream_reset");
    case CloseReason::Error: return QStringLiteral("error");
    case CloseReason::Timeout: return QStringLiteral("timeout");
    case CloseReason::Stopped: return QStringLiteral("stopped");
    case CloseReason::Fault: return QStringLiteral("fault");
    }
    return QString();
}

QString ConnectionRecord::stateName(State state)
{
    switch (state) {
    case State::Resolving: return QStringLiteral("resolving");
    case State::Connecting: return QStringLiteral("connecting");
    case State::Open: return QStringLiteral("open");
    case State::ClientHalfClosed: return QStringLiteral("client_half_closed");
    case State::UpstreamHalfClosed: return QStringLiteral("upstream_half_closed");
    case State::Closed: return QStringLiteral("closed");
    }
    return QString();
}

QString ConnectionRecord::decryptionName(Decryption decryption)
{
    switch (decryption) {
    case Decryption::None: return QStringLiteral("none");
    case Decryption::Decrypted: return QStringLiteral("decrypted");
    case Decryption::Passthrough: return QStringLiteral("passthrough");
    case Decryption::Rejected: return QStringLiteral("rejected");
    }
    return QString();
}

qint64 ConnectionRecord::ageUs(qint64 msSinceEpoch) const
{
    const qint64 endMs = isClosed() ? closedMs : msSinceEpoch;
    return qMax<qint64>(timeline.sampledUs, (endMs - openedMs) * 1000);
}

namespace {

const TlsDetails NoTls;

} // namespace

const TlsDetails &ConnectionRecord::clientTls() const
{
    return m_tls ? m_tls->client : NoTls;
}

const TlsDetails &ConnectionRecord::upstreamTls() const
{
    return m_tls ? m_tls->upstream : NoTls;
}

void ConnectionRecord::setClientTls(const TlsDetails &details)
{
    if (m_tls || !details.isEmpty())
        clientTlsToWrite() = details;
}

void ConnectionRecord::setUpstreamTls(const TlsDetails &details)
{
    if (m_tls || !details.isEmpty())
        upstreamTlsToWrite() = details;
}

ConnectionRecord::TlsLegs &ConnectionRecord::tlsToWrite()
{
    // Copies on other threads hold their own references, taken from this
    // one: a count of 1 cannot rise behind our back.
    if (!m_tls)
        m_tls = std::make_shared<TlsLegs>();
    else if (m_tls.use_count() > 1)
        m_tls = std::make_shared<TlsLegs>(*m_tls);
    return *m_tls;
}
