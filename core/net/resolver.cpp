#include "resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>

namespace {

bool numericAddress(const QByteArray &host, quint16 port, SocketAddress *out)
{
    sockaddr_in in{};
    if (inet_pton(AF_INET, host.constData(), &in.sin_addr) == 1) {
        in.sin_family = AF_INET;
        in.sin_port = htons(port);
        *out = SocketAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&in), sizeof in);
        return true;
    }
    sockaddr_in6 in6{};
    if (inet_pton(AF_INET6, host.constData(), &in6.sin6_addr) == 1) {
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(port);
        *out = SocketAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&in6), sizeof in6);
        return true;
    }
    return false;
}

} // namespace

Resolver::Resolver()
{
    // Lookups can block for the resolver's whole timeout; a few threads keep
    // one slow name from holding up the others.
    m_pool.setMaxThreadCount(4);
    m_pool.setObjectName(QStringLiteral("proxymon-resolver"));
}

Resolver::~Resolver()
{
    m_pool.waitForDone();
}

bool Resolver::resolveImmediately(const QString &host, quint16 port, ResolveResult *result)
{
    const QString lower = host.toLower();
    // RFC 6761 6.4: "invalid" names never resolve, and resolvers should say so
    // at once rather than ask the network.
    if (lower == u"invalid" || lower.endsWith(u".invalid") || lower.endsWith(u".invalid.")) {
        result->addresses.clear();
        result->error = QStringLiteral("unknown host %1 (.invalid names never resolve)").arg(host);
        return true;
    }
    SocketAddress address;
    if (numericAddress(host.toLatin1(), port, &address)) {
        result->addresses = {address};
        result->error.clear();
        return true;
    }
    return false;
}

void Resolver::lookup(const QString &host, quint16 port, std::function<void(ResolveResult)> done)
{
    m_pool.start([host, port, done = std::move(done)] { done(resolveBlocking(host, port)); });
}

ResolveResult Resolver::resolveBlocking(const QString &host, quint16 port)
{
    ResolveResult result;
    if (resolveImmediately(host, port, &result))
        return result;

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *list = nullptr;
    const QByteArray service = QByteArray::number(port);
    const int rc = getaddrinfo(host.toUtf8().constData(), service.constData(), &hints, &list);
    if (rc != 0) {
        if (rc == EAI_NONAME || rc == EAI_NODATA)
            result.error = QStringLiteral("unknown host %1").arg(host);
        else
            result.error = QStringLiteral("cannot resolve %1: %2").arg(host, QString::fromLocal8Bit(gai_strerror(rc)));
        return result;
    }
    for (addrinfo *entry = list; entry; entry = entry->ai_next) {
        if (entry->ai_family == AF_INET || entry->ai_family == AF_INET6)
            result.addresses.push_back(SocketAddress::fromSockaddr(entry->ai_addr, entry->ai_addrlen));
    }
    freeaddrinfo(list);
    if (result.addresses.empty())
        result.error = QStringLiteral("%1 has no IPv4 or IPv6 address").arg(host);
    return result;
}
