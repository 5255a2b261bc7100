#include "tcpleg.h"

#include <fcntl.h> // splice()
#include <linux/sockios.h> // SIOCOUTQ
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

TcpLeg::~TcpLeg()
{
    close(false);
}

int TcpLeg::detach()
{
    const int fd = m_fd;
    m_fd = -1;
    return fd;
}

SocketAddress TcpLeg::peer() const
{
    SocketAddress address;
    address.length = sizeof address.storage;
    if (getpeername(m_fd, reinterpret_cast<sockaddr *>(&address.storage), &address.length) != 0)
        address.length = 0;
    return address;
}

SocketAddress TcpLeg::local() const
{
    SocketAddress address;
    address.length = sizeof address.storage;
    if (getsockname(m_fd, reinterpret_cast<sockaddr *>(&address.storage), &address.length) != 0)
        address.length = 0;
    return address;
}

void TcpLeg::tune(int fd)
{
    // Forward whatever arrives as soon as it arrives: the sender's own stack
    // already decided how to segment it.
    const int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_INQ, &on, sizeof on);
    setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &on, sizeof on);
}

// An edge-triggered source raises no new edge until it has been read dry,
// and a short read does not prove that (recv() stops at an urgent mark);
// EAGAIN does, at the price of one more call per wake-up. With TCP_INQ the
// kernel says with the data how much is still queued after it, a FIN
// counting as one: 0 is the same proof, for free.
ssize_t TcpLeg::read(char *into, size_t capacity, bool *drained)
{
    iovec part{into, capacity};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(m_fd, &message, 0);
    *drained = false;
    if (n <= 0)
        return n;
    for (cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ) {
            int queued = 0;
            std::memcpy(&queued, CMSG_DATA(c), sizeof queued);
            *drained = queued == 0;
        }
    }
    return n;
}

ssize_t TcpLeg::peek(char *into, size_t capacity)
{
    return ::recv(m_fd, into, capacity, MSG_PEEK | MSG_DONTWAIT);
}

ssize_t TcpLeg::write(const char *data, size_t length)
{
    return ::send(m_fd, data, length, MSG_NOSIGNAL);
}

ssize_t TcpLeg::readToPipe(int pipeWrite, size_t length)
{
    return ::splice(m_fd, nullptr, pipeWrite, nullptr, length, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

ssize_t TcpLeg::writeFromPipe(int pipeRead, size_t length)
{
    return ::splice(pipeRead, nullptr, m_fd, nullptr, length, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

void TcpLeg::shutdownWrite()
{
    if (m_fd >= 0)
        ::shutdown(m_fd, SHUT_WR);
}

int TcpLeg::pendingError() const
{
    int error = 0;
    socklen_t length = sizeof error;
    if (m_fd < 0 || getsockopt(m_fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
        return 0;
    return error;
}

int TcpLeg::unacknowledged() const
{
    int bytes = 0;
    if (m_fd < 0 || ioctl(m_fd, SIOCOUTQ, &bytes) != 0)
        return 0;
    return bytes;
}

void TcpLeg::close(bool reset)
{
    if (m_fd < 0)
        return;
    if (reset) {
        const linger abortive{1, 0};
        setsockopt(m_fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
    }
    // close() also drops the descriptor from any epoll set.
    ::close(m_fd);
    m_fd = -1;
}
