#include "proxyconfig.h"

#include "endpoint.h"

QString ProxyConfig::validate() const
{
    if (listenAddress.isNull())
        return QStringLiteral("the listen address is not an IP address");
    if (!listensOnLoopbackOnly() && !allowNonLoopback)
        return QStringLiteral("listening on %1 would expose the proxy to other machines; "
                              "allow it explicitly to do so").arg(listenAddress.toString());
    if (targetHost.isEmpty())
        return QStringLiteral("no target host");
    if (targetPort == 0)
        return QStringLiteral("the target port must be between 1 and 65535");
    if (bufferBytes < 1024)
        return QStringLiteral("the buffer must be at least 1024 bytes");
    if (connectTimeoutMs <= 0 || idleTimeoutMs <= 0 || halfCloseTimeoutMs <= 0)
        return QStringLiteral("timeouts must be positive");
    if (stopGraceMs < 0 || maxConnections < 0 || workers < 0 || listenBacklog <= 0)
        return QStringLiteral("limits must not be negative");
    return QString();
}

QString ProxyConfig::targetText() const
{
    return Endpoint::format(targetHost, targetPort);
}

QString ProxyConfig::listenText() const
{
    return Endpoint::format(listenAddress.toString(), listenPort);
}

bool ProxyConfig::listensOnLoopbackOnly() const
{
    return listenAddress.isLoopback();
}
