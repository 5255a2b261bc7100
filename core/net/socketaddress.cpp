#include "socketaddress.h"

#include "endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

QString SocketAddress::toString() const
{
    char text[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET) {
        // By hand: inet_ntop() writes IPv4 with sprintf, thousands of
        // instructions for what every connection's record needs twice.
        char *at = text;
        const auto *octets = reinterpret_cast<const uchar *>(&storage.in4.sin_addr);
        for (int i = 0; i < 4; ++i) {
            const uchar octet = octets[i];
            if (i > 0)
                *at++ = '.';
            if (octet >= 100)
                *at++ = char('0' + octet / 100);
            if (octet >= 10)
                *at++ = char('0' + octet / 10 % 10);
            *at++ = char('0' + octet % 10);
        }
    } else if (family() == AF_INET6) {
        inet_ntop(AF_INET6, &storage.in6.sin6_addr, text, sizeof text);
    } else {
        return QStringLiteral("(unknown address family %1)").arg(family());
    }
    return Endpoint::format(QLatin1String(text), port());
}

quint16 SocketAddress::port() const
{
    if (family() == AF_INET)
        return ntohs(storage.in4.sin_port);
    if (family() == AF_INET6)
        return ntohs(storage.in6.sin6_port);
    return 0;
}

SocketAddress SocketAddress::fromHostAddress(const QHostAddress &address, quint16 port)
{
    if (address.protocol() == QAbstractSocket::IPv4Protocol) {
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_port = htons(port);
        in.sin_addr.s_addr = htonl(address.toIPv4Address());
        return fromSockaddr(reinterpret_cast<const sockaddr *>(&in), sizeof in);
    }
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    const Q_IPV6ADDR bytes = address.toIPv6Address();
    std::memcpy(&in6.sin6_addr, &bytes, sizeof bytes);
    in6.sin6_scope_id = address.scopeId().toUInt();
    return fromSockaddr(reinterpret_cast<const sockaddr *>(&in6), sizeof in6);
}

SocketAddress SocketAddress::fromSockaddr(const sockaddr *address, socklen_t length)
{
    SocketAddress result;
    result.length = std::min<socklen_t>(length, sizeof result.storage);
    std::memcpy(&result.storage, address, result.length);
    return result;
}
