#pragma once

#include <QHostAddress>
#include <QString>
#include <QThreadPool>

#include <sys/socket.h>

#include <functional>
#include <vector>

// A socket address that can be copied between threads and handed to connect().
struct SocketAddress
{
    sockaddr_storage storage{};
    socklen_t length = 0;

    int family() const { return storage.ss_family; }
    const sockaddr *data() const { return reinterpret_cast<const sockaddr *>(&storage); }
    QString toString() const; // "1.2.3.4:80" or "[::1]:80"
    quint16 port() const;     // 0 for a family other than IPv4 and IPv6

    static SocketAddress fromSockaddr(const sockaddr *address, socklen_t length);
    // IPv4 for an IPv4 address, IPv6 (with its scope) otherwise.
    static SocketAddress fromHostAddress(const QHostAddress &address, quint16 port);
};

struct ResolveResult
{
    std::vector<SocketAddress> addresses; // in the order to try them
    QString error;                        // set when addresses is empty
};

// Turns the target's host name into addresses without blocking the caller.
// Address literals and the special-use names of RFC 6761 ("localhost",
// anything under ".invalid") are answered at once; other names go to
// getaddrinfo() on the resolver's own small thread pool.
class Resolver
{
public:
    Resolver();
    ~Resolver(); // waits for lookups in flight

    Resolver(const Resolver &) = delete;
    Resolver &operator=(const Resolver &) = delete;

    // Returns true and fills *result when the answer needs no lookup.
    static bool resolveImmediately(const QString &host, quint16 port, ResolveResult *result);

    // Runs the lookup on a pool thread and calls done there with the answer.
    void lookup(const QString &host, quint16 port, std::function<void(ResolveResult)> done);

    // The blocking lookup itself, usable from any thread.
    static ResolveResult resolveBlocking(const QString &host, quint16 port);

private:
    QThreadPool m_pool;
};
