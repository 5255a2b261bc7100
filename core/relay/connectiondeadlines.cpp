#include "connectiondeadlines.h"

#include "proxyconfig.h"

using Expired = ConnectionDeadlines::Expired;

Expired ConnectionDeadlines::check(qint64 nowMs, const ProxyConfig &config, const Waiting &waiting) const
{
    if (waiting.clientHandshake && nowMs - waiting.clientHandshakeSinceMs >= config.connectTimeoutMs)
        return Expired::ClientHandshake;
    if (waiting.reaching)
        return nowMs - m_reachingSinceMs >= config.connectTimeoutMs ? Expired::Reaching : Expired::Nothing;
    const qint64 quiet = nowMs - m_activeMs;
    if (waiting.halfClosed && quiet >= config.halfCloseTimeoutMs)
        return Expired::HalfClosed;
    return quiet >= config.idleTimeoutMs ? Expired::Idle : Expired::Nothing;
}

QString ConnectionDeadlines::note(Expired expired)
{
    switch (expired) {
    case Expired::ClientHandshake:
        return QStringLiteral("TLS handshake");
    case Expired::HalfClosed:
        return QStringLiteral("half-close");
    case Expired::Idle:
        return QStringLiteral("idle");
    case Expired::Nothing:
    case Expired::Reaching:
        break;
    }
    return QString();
}

QString ConnectionDeadlines::why(Expired expired, const ProxyConfig &config)
{
    switch (expired) {
    case Expired::ClientHandshake:
        return QStringLiteral("the client's TLS handshake did not finish in %1 ms").arg(config.connectTimeoutMs);
    case Expired::HalfClosed:
        return QStringLiteral("half-closed and idle for %1 ms").arg(config.halfCloseTimeoutMs);
    case Expired::Idle:
        return QStringLiteral("idle for %1 ms").arg(config.idleTimeoutMs);
    case Expired::Nothing:
    case Expired::Reaching:
        break;
    }
    return QString();
}
