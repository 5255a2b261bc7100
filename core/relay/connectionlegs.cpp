#include "connectionlegs.h"

#include "legreader.h"

#include <sys/epoll.h>

#include <cstddef>

using Mark = TimelineMark;

ConnectionLegs::ConnectionLegs(int clientFd, const SocketAddress &peer, ConnectionLife &life, int epoll,
                               const void *owner)
    : m_life(life)
    , m_epoll(epoll)
    , m_owner(reinterpret_cast<std::uintptr_t>(owner))
    , m_client(clientFd)
    , m_peer(peer)
{
    static_assert(alignof(std::max_align_t) > TagBits, "the tag's bits must be free in the pointer");
    // The client's socket is not tuned: Linux copies TCP_NODELAY and the
    // rest of TcpLeg::tune() from the listening socket to accepted ones,
    // which saves system calls per connection.
}

void ConnectionLegs::describeClient(ConnectionRecord *record, const QString &listenText)
{
    if (!m_peer.length)
        m_peer = m_client.peer();
    record->client = m_peer.length ? m_peer.toString() : QStringLiteral("(unknown)");
    record->acceptedOn = listenText;
    if (record->acceptedOn.isEmpty()) {
        const SocketAddress local = m_client.local();
        if (local.length)
            record->acceptedOn = local.toString();
    }
}

const QHostAddress &ConnectionLegs::clientAddress()
{
    if (!m_clientAddress)
        m_clientAddress.emplace(m_peer.data());
    return *m_clientAddress;
}

Leg &ConnectionLegs::replace(Side side, Leg &replacement)
{
    Leg &old = *m_current[side];
    m_current[side] = &replacement;
    return old;
}

void ConnectionLegs::watch(Side side)
{
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u64 = m_owner | side | (side == Flow::Upstream ? m_generation << 1 : 0);
    epoll_ctl(m_epoll, EPOLL_CTL_ADD, tcp(side).descriptor(), &event);
}

void ConnectionLegs::newUpstream()
{
    m_generation = (m_generation + 1) & 3;
    m_finSent[Flow::Upstream] = false;
    m_dead[Flow::Upstream] = false;
    watch(Flow::Upstream);
}

bool ConnectionLegs::current(std::uintptr_t tag) const
{
    if ((tag & 1) == Flow::Client)
        return true;
    return ((tag >> 1) & 3) == m_generation && m_current[Flow::Upstream]->isOpen();
}

int ConnectionLegs::detachUpstream()
{
    if (!m_upstream.isOpen())
        return -1;
    epoll_ctl(m_epoll, EPOLL_CTL_DEL, m_upstream.descriptor(), nullptr);
    return m_upstream.detach();
}

void ConnectionLegs::passFin(Side toward)
{
    (*this)[toward].shutdownWrite();
    m_finSent[toward] = true;
    m_life.mark(Mark::Kind::FinSent, ConnectionLife::laneOf(toward), 0, QString());
}

bool ConnectionLegs::reset(Side side)
{
    if (!(*this)[side].isOpen() || m_dead[side])
        return false;
    m_dead[side] = true;
    m_life.mark(Mark::Kind::ResetSent, ConnectionLife::laneOf(side), 0, QString());
    (*this)[side].close(true);
    return true;
}

bool ConnectionLegs::died(Side side)
{
    if (m_dead[side])
        return false;
    m_dead[side] = true;
    return true;
}

void ConnectionLegs::discardUnread(Side side, char *scratch, qsizetype capacity)
{
    if (!(*this)[side].isOpen() || m_dead[side])
        return;
    int rounds = 16;
    LegReader::read((*this)[side], scratch, &rounds, [capacity] { return capacity; },
                    [](const char *, qsizetype) { return true; });
}

void ConnectionLegs::close(Side side, qint64 atUs)
{
    if (sendsFin(side))
        m_life.mark(Mark::Kind::FinSent, ConnectionLife::laneOf(side), 0, QString(), atUs);
    (*this)[side].close(false);
}
