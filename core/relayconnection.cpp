#include "relayconnection.h"

#include "worker.h"

#include <QDateTime>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

using Reason = ConnectionRecord::CloseReason;
using State = ConnectionRecord::State;

namespace {

QString errorText(int error)
{
    return QString::fromLocal8Bit(std::strerror(error));
}

bool isResetError(int error)
{
    return error == ECONNRESET || error == EPIPE || error == ECONNABORTED;
}

QString sideName(RelayConnection::Side side)
{
    return side == RelayConnection::Client ? QStringLiteral("client") : QStringLiteral("upstream");
}

QString peerAddress(int fd)
{
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (getpeername(fd, reinterpret_cast<sockaddr *>(&storage), &length) != 0)
        return QStringLiteral("(unknown)");
    return SocketAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&storage), length).toString();
}

void setNoDelay(int fd)
{
    // Forward whatever arrives as soon as it arrives: the sender's own stack
    // already decided how to segment it.
    const int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

} // namespace

RelayConnection::RelayConnection(Worker &worker, quint64 id, int clientFd)
    : m_worker(worker)
    , m_clientFd(clientFd)
{
    m_startedMs = m_lastActivityMs = worker.nowMs();
    m_record.id = id;
    m_record.openedMs = QDateTime::currentMSecsSinceEpoch();
    m_record.client = peerAddress(clientFd);
    m_record.upstream = worker.config().targetText();
    m_record.state = State::Resolving;
    setNoDelay(clientFd);
}

RelayConnection::~RelayConnection()
{
    // Normally finish() has closed both sides already; this is the backstop
    // for a worker torn down mid-connection.
    closeSide(Client, false);
    closeSide(Upstream, false);
    freeBuffer(m_up);
    freeBuffer(m_down);
}

ConnectionRecord RelayConnection::snapshot() const
{
    ConnectionRecord record = m_record;
    record.bytesUp = m_up.delivered;
    record.bytesDown = m_down.delivered;
    return record;
}

void RelayConnection::begin()
{
    // The client is watched from the start so that a reset while the upstream
    // is still being reached ends the attempt; its data waits in the kernel.
    epoll_event event{};
    event.events = 0;
    event.data.u64 = reinterpret_cast<std::uintptr_t>(this) | Client;
    if (epoll_ctl(m_worker.epollDescriptor(), EPOLL_CTL_ADD, m_clientFd, &event) == 0)
        m_registered[Client] = true;

    ResolveResult result;
    const ProxyConfig &config = m_worker.config();
    if (Resolver::resolveImmediately(config.targetHost, config.targetPort, &result)) {
        resolved(result);
        return;
    }
    m_worker.lookUp(this);
}

void RelayConnection::resolved(const ResolveResult &result)
{
    if (m_finished)
        return;
    if (result.addresses.empty()) {
        failConnect(Reason::Error, result.error);
        return;
    }
    m_addresses = result.addresses;
    m_nextAddress = 0;
    m_phase = Phase::Connecting;
    m_record.state = State::Connecting;
    m_worker.markDirty(this);
    connectNext();
}

void RelayConnection::connectNext()
{
    while (m_nextAddress < m_addresses.size()) {
        const SocketAddress &address = m_addresses[m_nextAddress];
        const int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            const int error = errno;
            failConnect(Reason::Error, QStringLiteral("cannot create a socket for %1: %2")
                                           .arg(address.toString(), errorText(error)));
            return;
        }
        setNoDelay(fd);
        m_upstreamFd = fd;
        if (::connect(fd, address.data(), address.length) == 0) {
            connected();
            return;
        }
        const int error = errno;
        if (error == EINPROGRESS) {
            setInterest(Upstream, EPOLLOUT);
            return;
        }
        closeSide(Upstream, false);
        m_connectErrors += QStringLiteral("%1%2: %3").arg(m_connectErrors.isEmpty() ? QString() : QStringLiteral("; "),
                                                          address.toString(), errorText(error));
        ++m_nextAddress;
    }
    failConnect(Reason::Error, QStringLiteral("connecting to %1 failed: %2").arg(m_record.upstream, m_connectErrors));
}

void RelayConnection::connectReady()
{
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(m_upstreamFd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
        error = errno;
    if (error == 0) {
        connected();
        return;
    }
    closeSide(Upstream, false);
    m_connectErrors += QStringLiteral("%1%2: %3").arg(m_connectErrors.isEmpty() ? QString() : QStringLiteral("; "),
                                                      m_addresses[m_nextAddress].toString(), errorText(error));
    ++m_nextAddress;
    connectNext();
}

void RelayConnection::connected()
{
    m_phase = Phase::Relaying;
    m_record.state = State::Open;
    m_record.upstreamAddress = m_addresses[m_nextAddress].toString();
    m_addresses.clear();
    m_addresses.shrink_to_fit();
    touched();
    m_worker.markDirty(this);
    updateInterest();
}

void RelayConnection::failConnect(Reason reason, const QString &why)
{
    // The client gets an orderly close: nothing was relayed, and a reset
    // would only hide the fact that the proxy answered.
    finish(reason, why);
}

void RelayConnection::handleEvent(Side side, std::uint32_t events)
{
    if (m_finished)
        return;
    if (m_phase != Phase::Relaying) {
        if (side == Upstream && m_phase == Phase::Connecting) {
            connectReady();
        } else if (side == Client && (events & (EPOLLERR | EPOLLHUP))) {
            int error = 0;
            socklen_t length = sizeof error;
            getsockopt(m_clientFd, SOL_SOCKET, SO_ERROR, &error, &length);
            sideFailed(Client, error ? error : ECONNRESET);
        }
        return;
    }

    if (events & EPOLLERR) {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(fd(side), SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
            sideFailed(side, error);
            return;
        }
    }
    if (events & EPOLLOUT) {
        if (!flush(flowTo(side)))
            return;
    }
    if (events & (EPOLLIN | EPOLLHUP)) {
        Flow &flow = flowFrom(side);
        if (!flow.eof && !flow.pending())
            pump(flow);
    }
    if (!m_finished)
        updateInterest();
}

void RelayConnection::pump(Flow &flow)
{
    const int capacity = m_worker.config().bufferBytes;
    char *scratch = m_worker.scratch();
    // A few reads per wake-up keep a fast stream moving without starving the
    // worker's other connections.
    for (int round = 0; round < 8; ++round) {
        const ssize_t received = ::recv(fd(flow.from), scratch, size_t(capacity), 0);
        if (received > 0) {
            touched();
            int sent = 0;
            if (!sendOrFail(flow, scratch, int(received), &sent))
                return;
            if (sent < received) {
                // Keep the rest until the destination can take it, and read no
                // more from the source meanwhile: that is the backpressure.
                if (!flow.buffer)
                    flow.buffer = static_cast<char *>(std::malloc(size_t(capacity)));
                flow.head = 0;
                flow.tail = int(received) - sent;
                std::memcpy(flow.buffer, scratch + sent, size_t(flow.tail));
                return;
            }
            if (received < capacity)
                return;
            continue;
        }
        if (received == 0) {
            sourceEnded(flow);
            return;
        }
        const int error = errno;
        if (error == EINTR)
            continue;
        if (error != EAGAIN && error != EWOULDBLOCK)
            sideFailed(flow.from, error);
        return;
    }
}

bool RelayConnection::sendOrFail(Flow &flow, const char *data, int length, int *sent)
{
    *sent = 0;
    while (*sent < length) {
        const ssize_t n = ::send(fd(flow.to), data + *sent, size_t(length - *sent), MSG_NOSIGNAL);
        if (n > 0) {
            *sent += int(n);
            continue;
        }
        const int error = errno;
        if (n < 0 && error == EINTR)
            continue;
        if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK))
            break;
        flow.delivered += quint64(*sent);
        sideFailed(flow.to, n < 0 ? error : EPIPE);
        return false;
    }
    flow.delivered += quint64(*sent);
    if (*sent > 0)
        m_worker.markDirty(this);
    return true;
}

bool RelayConnection::flush(Flow &flow)
{
    if (flow.pending()) {
        int sent = 0;
        if (!sendOrFail(flow, flow.buffer + flow.head, flow.tail - flow.head, &sent))
            return false;
        if (sent > 0)
            touched();
        flow.head += sent;
        if (flow.pending())
            return true;
        freeBuffer(flow);
    }
    if (flow.eof) {
        passOnFin(flow);
        return !m_finished;
    }
    // The destination drained: read on at once rather than wait for the next
    // round of readiness.
    pump(flow);
    return !m_finished;
}

void RelayConnection::sourceEnded(Flow &flow)
{
    flow.eof = true;
    if (!m_anyFin) {
        m_anyFin = true;
        m_firstFin = flow.from;
    }
    touched();
    if (!m_up.eof || !m_down.eof)
        m_record.state = m_up.eof ? State::ClientHalfClosed : State::UpstreamHalfClosed;
    m_worker.markDirty(this);
    if (!flow.pending())
        passOnFin(flow);
}

void RelayConnection::passOnFin(Flow &flow)
{
    if (flow.shutDown)
        return;
    flow.shutDown = true;
    ::shutdown(fd(flow.to), SHUT_WR);
    if (m_up.shutDown && m_down.shutDown) {
        // Both sides said FIN and everything they sent has been handed to
        // the kernel: closing now loses nothing.
        finish(m_firstFin == Client ? Reason::ClientFin : Reason::UpstreamFin, QString());
    }
}

void RelayConnection::sideFailed(Side side, int error)
{
    if (isResetError(error)) {
        abort(side, side == Client ? Reason::ClientReset : Reason::UpstreamReset, QString());
        return;
    }
    abort(side, Reason::Error, QStringLiteral("%1: %2").arg(sideName(side), errorText(error)));
}

void RelayConnection::abort(Side culprit, Reason reason, const QString &why)
{
    // Pass the failure on as a reset so that the other side does not take a
    // broken connection for a complete one.
    const Side other = culprit == Client ? Upstream : Client;
    closeSide(other, true);
    finish(reason, why);
}

void RelayConnection::terminate(Reason reason, const QString &why)
{
    if (!m_finished)
        finish(reason, why);
}

void RelayConnection::finish(Reason reason, const QString &why)
{
    if (m_finished)
        return;
    m_finished = true;
    m_phase = Phase::Finished;
    closeSide(Client, false);
    closeSide(Upstream, false);
    freeBuffer(m_up);
    freeBuffer(m_down);
    m_record.state = State::Closed;
    m_record.closeReason = reason;
    m_record.error = why;
    m_record.closedMs = QDateTime::currentMSecsSinceEpoch();
    m_worker.connectionFinished(this);
}

void RelayConnection::closeSide(Side side, bool reset)
{
    int &descriptor = fd(side);
    if (descriptor < 0)
        return;
    if (reset) {
        const linger abortive{1, 0};
        setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
    }
    // close() also drops the descriptor from the epoll set.
    ::close(descriptor);
    descriptor = -1;
    m_registered[side] = false;
    m_interest[side] = 0;
}

void RelayConnection::checkTimeouts(qint64 nowMs)
{
    if (m_finished)
        return;
    const ProxyConfig &config = m_worker.config();
    if (m_phase == Phase::Resolving || m_phase == Phase::Connecting) {
        if (nowMs - m_startedMs >= config.connectTimeoutMs) {
            QString why = QStringLiteral("connecting to %1 timed out after %2 ms")
                              .arg(m_record.upstream).arg(config.connectTimeoutMs);
            if (!m_connectErrors.isEmpty())
                why += QStringLiteral(" (%1)").arg(m_connectErrors);
            failConnect(Reason::Timeout, why);
        }
        return;
    }
    const qint64 quiet = nowMs - m_lastActivityMs;
    if (m_anyFin && quiet >= config.halfCloseTimeoutMs) {
        terminate(Reason::Timeout, QStringLiteral("half-closed and idle for %1 ms").arg(config.halfCloseTimeoutMs));
    } else if (quiet >= config.idleTimeoutMs) {
        terminate(Reason::Timeout, QStringLiteral("idle for %1 ms").arg(config.idleTimeoutMs));
    }
}

void RelayConnection::updateInterest()
{
    std::uint32_t client = 0;
    std::uint32_t upstream = 0;
    if (!m_up.eof && !m_up.pending())
        client |= EPOLLIN;
    if (m_down.pending())
        client |= EPOLLOUT;
    if (!m_down.eof && !m_down.pending())
        upstream |= EPOLLIN;
    if (m_up.pending())
        upstream |= EPOLLOUT;
    setInterest(Client, client);
    setInterest(Upstream, upstream);
}

void RelayConnection::setInterest(Side side, std::uint32_t mask)
{
    const int descriptor = fd(side);
    if (descriptor < 0)
        return;
    // A side that has sent its FIN and received ours has nothing more to say;
    // left in the set it would report EPOLLHUP on every wait.
    const Flow &from = flowFrom(side);
    const Flow &to = flowTo(side);
    const bool done = m_phase == Phase::Relaying && from.eof && to.shutDown;
    if (done) {
        if (m_registered[side]) {
            epoll_ctl(m_worker.epollDescriptor(), EPOLL_CTL_DEL, descriptor, nullptr);
            m_registered[side] = false;
        }
        return;
    }
    if (m_registered[side] && m_interest[side] == mask)
        return;
    epoll_event event{};
    event.events = mask;
    event.data.u64 = reinterpret_cast<std::uintptr_t>(this) | side;
    const int op = m_registered[side] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(m_worker.epollDescriptor(), op, descriptor, &event) == 0) {
        m_registered[side] = true;
        m_interest[side] = mask;
    }
}

void RelayConnection::freeBuffer(Flow &flow)
{
    std::free(flow.buffer);
    flow.buffer = nullptr;
    flow.head = flow.tail = 0;
}

void RelayConnection::touched()
{
    m_lastActivityMs = m_worker.nowMs();
}
