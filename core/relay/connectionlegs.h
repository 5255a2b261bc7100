#pragma once

#include "connectionlife.h"
#include "connectionrecord.h"
#include "flow.h"
#include "tcpleg.h"

#include <QHostAddress>

#include <cstdint>
#include <optional>

// The two legs of one connection as its flows see them (a TCP socket, or
// TLS over it) and what was done to each socket: a FIN sent toward it, or
// its end (a reset, sent or received, or a failure) after which closing it
// sends nothing. Each FIN and reset proxymon sends is marked on the side's
// lane of the connection's life; the connection marks its record dirty.
//
// The upstream's socket may be replaced (an HTTP proxy's next request goes
// elsewhere, a parked upstream is reused): each socket is watched with a
// generation in its epoll tag, so that an event for an old one still in
// the batch is told apart.
class ConnectionLegs
{
public:
    using Side = Flow::Side;
    // An epoll tag: owner's address, the side in bit 0, the upstream's
    // generation in bits 1 and 2.
    static constexpr std::uintptr_t TagBits = 7;

    // clientFd: accepted and non-blocking; owner: the address tags carry.
    // peer: the client's address as accept4() gave it (empty: asked for).
    ConnectionLegs(int clientFd, const SocketAddress &peer, ConnectionLife &life, int epoll, const void *owner);

    // Writes the client's address and where it was accepted into record:
    // listenText when the listener's address says it all, else (a
    // wildcard listener's) the socket's own.
    void describeClient(ConnectionRecord *record, const QString &listenText);
    // The client's address, as describeClient() asked it; as a
    // QHostAddress made on first use (a rule or the allow-list asks).
    const SocketAddress &peer() const { return m_peer; }
    const QHostAddress &clientAddress();

    Leg &operator[](Side side) { return *m_current[side]; }
    TcpLeg &tcp(Side side) { return side == Flow::Client ? m_client : m_upstream; }
    // Puts replacement (TLS over the side's socket, or the socket again)
    // in the place of side's leg; returns the one it replaced.
    Leg &replace(Side side, Leg &replacement);

    // Watches side's socket: edge-triggered, for everything, registered
    // once (no epoll_ctl per change of direction; the price is reading
    // until the kernel has no more).
    void watch(Side side);
    // The upstream is a new socket (connected, or adopted): nothing was
    // sent toward it yet, and the old one's events are stale.
    void newUpstream();
    // The event's tag is about the socket the side has now.
    bool current(std::uintptr_t tag) const;
    // Takes the upstream's socket out, open and unwatched; -1 if none.
    int detachUpstream();

    // Shuts down writing toward side.
    void passFin(Side toward);
    // Sends side a reset (SO_LINGER 0); false when it was closed or gone.
    bool reset(Side side);
    // side reset or failed of its own: true the first time.
    bool died(Side side);
    bool dead(Side side) const { return m_dead[side]; }
    // Reads and drops what side sent and proxymon will not relay (a
    // bounded amount, into scratch of capacity bytes), so that closing it
    // sends a FIN, not a reset.
    void discardUnread(Side side, char *scratch, qsizetype capacity);
    // Closes side's leg; its FIN, if that sends one, is marked at atUs.
    void close(Side side, qint64 atUs = -1);

private:
    bool sendsFin(Side side) { return (*this)[side].isOpen() && !m_finSent[side] && !m_dead[side]; }

    ConnectionLife &m_life;
    const int m_epoll;
    const std::uintptr_t m_owner;
    TcpLeg m_client;
    TcpLeg m_upstream;
    SocketAddress m_peer;
    std::optional<QHostAddress> m_clientAddress;
    Leg *m_current[2] = {&m_client, &m_upstream};
    std::uintptr_t m_generation = 0; // of the upstream's socket, modulo 4
    bool m_finSent[2] = {false, false}; // toward each side, on its current socket
    bool m_dead[2] = {false, false};
};
