#include "proxyconfig.h"

#include "endpoint.h"

bool ProxyConfig::setListen(const QString &text, QString *error)
{
    Endpoint endpoint;
    if (!Endpoint::parse(text, &endpoint, error, true))
        return false;
    const QHostAddress address = endpoint.host.isEmpty() || endpoint.host == u"localhost"
        ? QHostAddress(QHostAddress::LocalHost)
        : QHostAddress(endpoint.host);
    if (address.isNull()) {
        *error = QStringLiteral("'%1' is not an IP address").arg(endpoint.host);
        return false;
    }
    listenAddress = address;
    listenPort = endpoint.port;
    return true;
}

bool ProxyConfig::setTarget(const QString &input, QString *error)
{
    static const QLatin1String tlsPrefix("tls:");
    targetTls = input.startsWith(tlsPrefix, Qt::CaseInsensitive);
    const QString text = targetTls ? input.mid(tlsPrefix.size()) : input;
    builtinEcho = text.compare(QLatin1String(BuiltinEchoName), Qt::CaseInsensitive) == 0;
    if (builtinEcho && targetTls) {
        *error = QStringLiteral("the built-in echo server does not speak TLS");
        return false;
    }
    if (builtinEcho) {
        targetHost = QStringLiteral("127.0.0.1");
        targetPort = 0;
        return true;
    }
    Endpoint endpoint;
    if (!Endpoint::parse(text, &endpoint, error))
        return false;
    if (endpoint.port == 0) {
        *error = QStringLiteral("the port must be between 1 and 65535");
        return false;
    }
    targetHost = endpoint.host;
    targetPort = endpoint.port;
    return true;
}

QString ProxyConfig::validate() const
{
    if (listenAddress.isNull())
        return QStringLiteral("the listen address is not an IP address");
    if (!listensOnLoopbackOnly() && !allowNonLoopback)
        return QStringLiteral("listening on %1 would expose the proxy to other machines; "
                              "allow it explicitly to do so").arg(listenAddress.toString());
    if (mode == Mode::HttpProxy && !listensOnLoopbackOnly() && allowedClients.isEmpty())
        return QStringLiteral("an HTTP proxy listening on %1 would be open to every machine that reaches it; "
                              "name the clients allowed to use it (--allow ADDR[/PREFIX])")
            .arg(listenAddress.toString());
    if (mode == Mode::HttpProxy)
        return QString();
    if (targetHost.isEmpty())
        return QStringLiteral("no target host");
    if (targetPort == 0 && !builtinEcho)
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
    if (mode == Mode::HttpProxy)
        return QStringLiteral("(HTTP proxy)");
    if (builtinEcho)
        return QLatin1String(BuiltinEchoName);
    const QString target = Endpoint::format(targetHost, targetPort);
    return targetTls ? QStringLiteral("tls:") + target : target;
}

QString ProxyConfig::listenText() const
{
    return Endpoint::format(listenAddress.toString(), listenPort);
}

bool ProxyConfig::listensOnLoopbackOnly() const
{
    return listenAddress.isLoopback();
}

bool ProxyConfig::setAllowedClients(const QString &text, QString *error)
{
    return allowedClients.parse(text, error);
}

bool ProxyConfig::clientAllowed(const QHostAddress &address) const
{
    return allowedClients.isEmpty() || allowedClients.contains(address);
}

QString ProxyConfig::allowedClientsText() const
{
    return allowedClients.toString();
}

bool ProxyConfig::setMode(const QString &text, QString *error)
{
    for (const Mode candidate : {Mode::Forward, Mode::HttpProxy}) {
        if (text.compare(modeName(candidate), Qt::CaseInsensitive) == 0) {
            mode = candidate;
            return true;
        }
    }
    *error = QStringLiteral("unknown mode '%1' (forward or http-proxy)").arg(text);
    return false;
}

ListenerInfo ProxyConfig::listenerInfo() const
{
    return {listenText(), modeName(mode), mode == Mode::HttpProxy ? QString() : targetText()};
}

QString ProxyConfig::modeName(Mode mode)
{
    return mode == Mode::HttpProxy ? QStringLiteral("http-proxy") : QStringLiteral("forward");
}
