#pragma once

#include "socketaddress.h"

#include <QString>
#include <QThreadPool>

#include <functional>
#include <vector>

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
