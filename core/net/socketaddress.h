#pragma once

#include <QHostAddress>
#include <QString>

#include <netinet/in.h>
#include <sys/socket.h>

// A socket address that can be copied between threads and handed to connect().
struct SocketAddress
{
    // Room for the families proxymon's TCP sockets have, IPv4 and IPv6:
    // 28 bytes rather than sockaddr_storage's 128, since every connection
    // keeps its client's.
    union Storage {
        sockaddr any;
        sockaddr_in in4;
        sockaddr_in6 in6;
    } storage{};
    socklen_t length = 0;

    int family() const { return storage.any.sa_family; }
    const sockaddr *data() const { return reinterpret_cast<const sockaddr *>(&storage); }
    QString toString() const; // "1.2.3.4:80" or "[::1]:80"
    quint16 port() const;     // 0 for a family other than IPv4 and IPv6

    static SocketAddress fromSockaddr(const sockaddr *address, socklen_t length);
    // IPv4 for an IPv4 address, IPv6 (with its scope) otherwise.
    static SocketAddress fromHostAddress(const QHostAddress &address, quint16 port);
};
