#pragma once

#include "loopback.h"
#include "tcpleg.h"

#include <poll.h>
#include <sys/socket.h>

// A TCP connection on loopback with a leg at one end (non-blocking, tuned
// as the relay tunes its sockets) and a blocking test socket at the other:
// the peer the leg talks to.
struct LegPair
{
    LegPair()
    {
        quint16 port = 0;
        Loopback::Socket listener = Loopback::listenOn("127.0.0.1", 1, &port);
        peer = Loopback::connectTo("127.0.0.1", port);
        const int fd = ::accept4(listener.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        TcpLeg::tune(fd);
        leg.attach(fd);
    }

    // Waits (bounded) until the leg's descriptor is ready for events.
    bool waitFor(short events, int timeoutMs = 5000) const
    {
        pollfd ready{leg.descriptor(), events, 0};
        return ::poll(&ready, 1, timeoutMs) == 1;
    }

    Loopback::Socket peer;
    TcpLeg leg;
};
