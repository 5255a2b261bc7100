#include "relayconnection.h"

#include "worker.h"

#include <QDateTime>
#include <QNetworkInterface>

#include <fcntl.h> // splice()
#include <sys/ioctl.h>
#include <linux/sockios.h> // SIOCOUTQ
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

using Reason = ConnectionRecord::CloseReason;

// A bulk flow that the capture watches goes back to copying below this.
constexpr int SmallSplice = 4096;
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

SocketAddress peerOf(int fd)
{
    SocketAddress address;
    address.length = sizeof address.storage;
    if (getpeername(fd, reinterpret_cast<sockaddr *>(&address.storage), &address.length) != 0)
        address.length = 0;
    return address;
}

QString peerAddress(int fd)
{
    const SocketAddress address = peerOf(fd);
    return address.length ? address.toString() : QStringLiteral("(unknown)");
}

void tuneUpstream(int fd)
{
    // Forward whatever arrives as soon as it arrives: the sender's own stack
    // already decided how to segment it.
    const int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_INQ, &on, sizeof on);
    setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &on, sizeof on);
}

// recv() that also says whether the socket is now proven empty. An
// edge-triggered source raises no new edge until it has been read dry, and
// a short read does not prove that (recv() stops at an urgent mark); EAGAIN
// does, at the price of one more call per wake-up. With TCP_INQ, set on
// every relayed socket, the kernel says with the data how much is still
// queued after it, a FIN counting as one: 0 is the same proof, for free.
ssize_t receive(int fd, char *into, size_t capacity, bool *drained)
{
    iovec part{into, capacity};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr message{};
    message.msg_iov = &part;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd, &message, 0);
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
    // QTcpServer accepts without SOCK_NONBLOCK; one blocking recv() would
    // stall every connection on this worker.
    int nonBlocking = 1;
    ioctl(clientFd, FIONBIO, &nonBlocking);
    // TCP_NODELAY comes from the listening socket: Linux copies it to
    // accepted sockets, which saves a system call per connection.
}

RelayConnection::~RelayConnection()
{
    // Normally finish() has closed both sides already; this is the backstop
    // for a worker torn down mid-connection.
    closeSide(Client, false);
    closeSide(Upstream, false);
    m_parked.clear();
    freeBuffer(m_up);
    freeBuffer(m_down);
}

ConnectionRecord RelayConnection::snapshot() const
{
    ConnectionRecord record = m_record;
    record.bytesUp = m_up.delivered;
    record.bytesDown = m_down.delivered;
    if (m_capture && m_capture->isRaw()) {
        // Shared, not copied; the capture copies on its next append, at
        // most once per publish.
        record.clientPrefix = m_capture->rawClientPrefix();
        record.upstreamPrefix = m_capture->rawUpstreamPrefix();
    }
    return record;
}

void RelayConnection::begin()
{
    // The client is watched from the start so that a reset while the upstream
    // is still being reached ends the attempt; its data waits in the kernel
    // until the upstream is connected.
    watch(Client);

    const ProxyConfig &config = m_worker.config();
    if (config.mode == ProxyConfig::Mode::HttpProxy) {
        HttpHeadParser::Limits limits;
        limits.maxBytes = config.headBytes;
        limits.maxHeaders = config.headHeaders;
        m_front = std::make_unique<HttpProxyFront>(limits, config.viaToken);
        m_phase = Phase::Relaying;
        m_record.state = State::Open;
        m_record.upstream.clear(); // each request names its own
        m_record.httpProxy = true;
    }
    if (!config.allowedClients.isEmpty()) {
        const SocketAddress peer = peerOf(m_clientFd);
        if (!config.clientAllowed(QHostAddress(peer.data()))) {
            refuseClient();
            return;
        }
    }
    if (m_front) {
        // Edge-triggered: the client may have sent its request already.
        proxyReadClient();
        if (!m_finished)
            proxyAdvance();
        return;
    }

    resolve(config.targetHost, config.targetPort);
}

void RelayConnection::resolve(const QString &host, quint16 port)
{
    ResolveResult result;
    if (Resolver::resolveImmediately(host, port, &result)) {
        resolved(result);
        return;
    }
    m_worker.lookUp(this, host, port);
}

void RelayConnection::refuseClient()
{
    const QString why = QStringLiteral("client %1 is not on the allow-list").arg(m_record.client);
    if (!m_front) {
        finish(Reason::Error, why);
        return;
    }
    // An HTTP proxy says so in HTTP, like any other refusal.
    m_front->failed(403, why);
    proxyAdvance();
}

void RelayConnection::resolved(const ResolveResult &result)
{
    // A late answer for an attempt that already timed out is dropped.
    if (m_finished || m_phase != Phase::Resolving)
        return;
    if (result.addresses.empty()) {
        failConnect(Reason::Error, result.error);
        return;
    }
    if (m_front) {
        for (const SocketAddress &address : result.addresses) {
            if (isOwnListener(address)) {
                m_phase = Phase::Relaying;
                m_front->failed(508, QStringLiteral("request loop: %1 is this proxy's own address")
                                         .arg(address.toString()));
                proxyAdvance();
                return;
            }
        }
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
            // Out of descriptors: accepting more would only turn more
            // clients away like this one, so the listener rests too.
            if (error == EMFILE || error == ENFILE)
                m_worker.descriptorsExhausted();
            failConnect(Reason::Error, QStringLiteral("cannot create a socket for %1: %2")
                                           .arg(address.toString(), errorText(error)));
            return;
        }
        tuneUpstream(fd);
        m_upstreamFd = fd;
        m_upstreamGeneration = (m_upstreamGeneration + 1) & 3;
        if (::connect(fd, address.data(), address.length) == 0) {
            watch(Upstream);
            connected(0);
            return;
        }
        const int error = errno;
        if (error == EINPROGRESS) {
            watch(Upstream);
            return;
        }
        noteConnectFailure(error);
    }
    failConnect(Reason::Error, QStringLiteral("connecting to %1 failed: %2").arg(m_record.upstream, m_connectErrors));
}

void RelayConnection::connectReady(std::uint32_t events)
{
    // Writable without an error means connected; only a failure needs the
    // extra call to learn why.
    int error = 0;
    if (events & (EPOLLERR | EPOLLHUP)) {
        socklen_t length = sizeof error;
        if (getsockopt(m_upstreamFd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
            error = errno;
        if (error == 0)
            error = ECONNREFUSED;
    } else if (!(events & EPOLLOUT)) {
        return;
    }
    if (error == 0) {
        connected(events);
        return;
    }
    noteConnectFailure(error);
    connectNext();
}

void RelayConnection::noteConnectFailure(int error)
{
    // Every address tried is named in the record, with why it failed.
    closeSide(Upstream, false);
    if (!m_connectErrors.isEmpty())
        m_connectErrors += QStringLiteral("; ");
    m_connectErrors += QStringLiteral("%1: %2").arg(m_addresses[m_nextAddress].toString(), errorText(error));
    ++m_nextAddress;
}

void RelayConnection::connected(std::uint32_t events)
{
    m_phase = Phase::Relaying;
    m_record.state = State::Open;
    m_record.upstreamAddress = m_addresses[m_nextAddress].toString();
    m_addresses.clear();
    m_addresses.shrink_to_fit();
    touched();
    m_worker.markDirty(this);
    if (m_front) {
        if (m_tunnelConnect) {
            const QByteArray early = m_front->outgoing().toByteArray();
            const QByteArray established = HttpProxyFront::tunnelEstablished();
            observe(m_down, established.constData(), established.size());
            if (deliverToClient(established))
                becomeByteRelay(early);
            return;
        }
        m_front->connected();
        proxyAdvance();
        return;
    }
    // Edge-triggered: what the client sent while we were connecting raised
    // its edge long ago, so read it now rather than wait for more.
    pump(m_up);
    if (!m_finished && (events & EPOLLIN))
        pump(m_down);
}

void RelayConnection::failConnect(Reason reason, const QString &why)
{
    if (m_front) {
        // An HTTP proxy answers the request that needed this upstream.
        closeSide(Upstream, false);
        m_phase = Phase::Relaying;
        m_front->failed(reason == Reason::Timeout ? 504 : 502, why);
        proxyAdvance();
        return;
    }
    // The client gets an orderly close: nothing was relayed, and a reset
    // would only hide the fact that the proxy answered.
    finish(reason, why);
}

void RelayConnection::handleEvent(std::uintptr_t tag, std::uint32_t events)
{
    if (m_finished)
        return;
    const Side side = Side(tag & 1);
    if (side == Upstream && ((tag >> 1) & 3) != m_upstreamGeneration)
        return; // about an upstream socket already closed
    if (m_front) {
        handleProxyEvent(side, events);
        return;
    }
    if (m_phase != Phase::Relaying) {
        if (side == Upstream && m_phase == Phase::Connecting) {
            connectReady(events);
        } else if (side == Client && (events & EPOLLERR)) {
            int error = 0;
            socklen_t length = sizeof error;
            getsockopt(m_clientFd, SOL_SOCKET, SO_ERROR, &error, &length);
            sideFailed(Client, error ? error : ECONNRESET);
        }
        return;
    }

    if (events & EPOLLERR) {
        // Deliver what the side sent before its reset, as a direct
        // connection would; pump() meets the error itself after the data.
        Flow &flow = flowFrom(side);
        if (!flow.eof && !flow.pending()) {
            pump(flow);
            if (m_finished)
                return;
        }
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(fd(side), SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
            sideFailed(side, error);
            return;
        }
    }
    if ((events & EPOLLOUT) && flowTo(side).pending()) {
        if (!flush(flowTo(side)))
            return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
        Flow &flow = flowFrom(side);
        if (!flow.eof && !flow.pending())
            pump(flow);
    }
}

void RelayConnection::pump(Flow &flow)
{
    if (fd(flow.from) < 0)
        return; // an HTTP proxy between upstreams
    const int capacity = m_worker.config().bufferBytes;
    char *scratch = m_worker.scratch();
    // Edge-triggered: the source raises no new edge until it has been read
    // dry. Only EAGAIN, or the kernel's count of what is left (receive()),
    // proves that; a short read does not: recv() stops at an urgent mark,
    // and a short splice() may have been limited by the pipe's slots (a
    // sendfile()'d stream arrives in many small fragments) while the socket
    // still holds data and its sender waits for room.
    // A few reads per wake-up keep a fast stream moving without starving the
    // worker's other connections; if the source still has data after that,
    // the worker comes back to it after the other ready connections.
    for (int round = 0;; ++round) {
        if (round == 8) {
            m_worker.pumpLater(this, flow.from);
            return;
        }
        if (flow.bulk) {
            const int moved = spliceOnce(flow, capacity);
            if (moved > 0) {
                if (flow.pending() || m_finished)
                    return;
                // Small messages again (keep-alive after a download): while
                // the capture looks, a copy costs fewer system calls than a
                // peek and two splices.
                if (moved < SmallSplice && captureWants(flow))
                    flow.bulk = false;
                continue;
            }
            if (moved == 0) {
                sourceEnded(flow);
                return;
            }
            if (moved == -1)
                return;
            flow.bulk = false; // no pipe: copy instead
        }
        bool drained = false;
        const ssize_t received = receive(fd(flow.from), scratch, size_t(capacity), &drained);
        if (received > 0) {
            touched();
            observe(flow, scratch, received);
            if (m_front)
                m_front->upstreamBytes(QByteArrayView(scratch, received));
            // A full buffer means a bulk transfer: from here on the kernel
            // moves the bytes itself (splice), and the capture gets a copy
            // of what it needs (MSG_PEEK).
            if (received == capacity && !m_front)
                flow.bulk = true;
            if (!forward(flow, scratch, int(received)) || flow.pending() || drained)
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

bool RelayConnection::forward(Flow &flow, const char *data, int length)
{
    int sent = 0;
    if (!sendOrFail(flow, data, length, &sent))
        return false;
    if (sent < length) {
        // Keep the rest until the destination can take it, and read no
        // more from the source meanwhile: that is the backpressure.
        if (!flow.buffer)
            flow.buffer = static_cast<char *>(std::malloc(size_t(m_worker.config().bufferBytes)));
        flow.head = 0;
        flow.tail = length - sent;
        std::memcpy(flow.buffer, data + sent, size_t(flow.tail));
    }
    return true;
}

int RelayConnection::spliceOnce(Flow &flow, int capacity)
{
    PipePool &pipes = m_worker.pipes();
    if (!flow.pipe.isValid() && !pipes.take(&flow.pipe))
        return -2;
    // What the capture needs of these bytes: nothing (a body past its kept
    // prefix: the bytes never leave the kernel), the kept part of a body
    // (copied straight into its place), or all of them (heads and framing).
    // The copy is a MSG_PEEK of the socket: the splice that follows takes
    // the same bytes from the head of the same queue, and only as many as
    // were seen.
    const bool watched = captureWants(flow);
    const bool fromClient = flow.from == Client;
    HttpConversation::BodyWindow body;
    if (watched && m_capture)
        body = m_capture->bodyWindow(fromClient);
    size_t want = size_t(capacity);
    char *copy = nullptr;
    if (body.ahead > 0) {
        want = size_t(qMin<quint64>(want, body.roomBytes > 0 ? quint64(body.roomBytes) : body.ahead));
        copy = body.room;
    } else if (watched) {
        copy = m_worker.scratch();
    }
    ssize_t received = 0;
    if (copy) {
        received = ::recv(fd(flow.from), copy, want, MSG_PEEK | MSG_DONTWAIT);
        if (received > 0)
            want = size_t(received);
    }
    if (!copy || received > 0)
        received = ::splice(fd(flow.from), nullptr, flow.pipe.write, nullptr, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (received > 0) {
        touched();
        flow.piped = int(received);
        if (body.ahead > 0) {
            m_capture->bodyPassed(fromClient, quint64(received), m_worker.wallMs());
            collectExchanges();
        } else if (copy) {
            observe(flow, copy, received);
        }
        if (m_finished || !drainPipe(flow))
            return -1;
        if (flow.piped == 0)
            pipes.give(&flow.pipe);
        return int(received);
    }
    if (body.roomBytes > 0)
        m_capture->bodyPassed(fromClient, 0, m_worker.wallMs());
    pipes.give(&flow.pipe);
    if (received == 0)
        return 0;
    const int error = errno;
    if (error != EAGAIN && error != EWOULDBLOCK && error != EINTR)
        sideFailed(flow.from, error);
    return -1;
}

bool RelayConnection::drainPipe(Flow &flow)
{
    while (flow.piped > 0) {
        const ssize_t n = ::splice(flow.pipe.read, nullptr, fd(flow.to), nullptr, size_t(flow.piped),
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) {
            flow.piped -= int(n);
            flow.delivered += quint64(n);
            m_worker.markDirty(this);
            continue;
        }
        const int error = errno;
        if (n < 0 && error == EINTR)
            continue;
        if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK))
            return true;
        sideFailed(flow.to, n < 0 ? error : EPIPE);
        return false;
    }
    return true;
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
    if (flow.piped > 0) {
        if (!drainPipe(flow))
            return false;
        touched();
        if (flow.piped > 0)
            return true;
        m_worker.pipes().give(&flow.pipe);
    }
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
    if (m_front) {
        // Only the upstream's end comes here; the client's is the front's.
        upstreamEndedUnderFront();
        return;
    }
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
    if (m_front) {
        if (fd(flow.to) >= 0)
            ::shutdown(fd(flow.to), SHUT_WR);
        // The client has its FIN and had sent its own: done.
        if (flow.to == Client && m_up.eof)
            finish(m_endReason, m_record.error);
        return;
    }
    // The last FIN of the two goes out with close() in finish(); a separate
    // shutdown() would only cost a system call per connection.
    if (!m_up.shutDown || !m_down.shutDown) {
        ::shutdown(fd(flow.to), SHUT_WR);
        return;
    }
    // Both sides said FIN and everything they sent has been handed to the
    // kernel: closing now loses nothing.
    finish(m_firstFin == Client ? Reason::ClientFin : Reason::UpstreamFin, QString());
}

void RelayConnection::sideFailed(Side side, int error)
{
    if (m_front && side == Upstream && upstreamFailedUnderFront(error))
        return;
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
    uncountUnacknowledged(culprit);
    uncountUnacknowledged(other);
    closeSide(other, true);
    // Once proxymon has answered and is closing, how the client then leaves
    // (curl resets without reading a 502's body) does not replace what
    // proxymon knew.
    if (m_closingClient)
        finish(m_endReason, m_record.error);
    else
        finish(reason, why);
}

void RelayConnection::uncountUnacknowledged(Side side)
{
    // Bytes count as delivered once handed to the kernel; when the
    // connection fails, what the peer never acknowledged dies in the send
    // queue (the peer is gone, or is about to be reset), so it comes off.
    int unacknowledged = 0;
    if (fd(side) < 0 || ioctl(fd(side), SIOCOUTQ, &unacknowledged) != 0 || unacknowledged <= 0)
        return;
    Flow &flow = flowTo(side);
    if (flow.shutDown)
        --unacknowledged; // the FIN takes a sequence number too
    flow.delivered -= qMin(flow.delivered, quint64(unacknowledged));
    m_worker.markDirty(this);
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
    m_parked.clear();
    freeBuffer(m_up);
    freeBuffer(m_down);
    finishCapture();
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

void RelayConnection::watch(Side side)
{
    // Edge-triggered and registered once for everything: no epoll_ctl per
    // change of direction. The price is reading until the kernel has no
    // more, which pump() does.
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    static_assert(alignof(std::max_align_t) > TagBits, "the tag's bits must be free in the pointer");
    event.data.u64 = reinterpret_cast<std::uintptr_t>(this) | side | (side == Upstream ? m_upstreamGeneration << 1 : 0);
    epoll_ctl(m_worker.epollDescriptor(), EPOLL_CTL_ADD, fd(side), &event);
}

void RelayConnection::pumpAgain(Side side)
{
    if (m_finished)
        return;
    if (m_front) {
        if (side == Client)
            proxyReadClient();
        else if (!m_down.eof && !m_down.pending())
            pump(m_down);
        if (!m_finished && m_front)
            proxyAdvance();
        return;
    }
    Flow &flow = flowFrom(side);
    if (!flow.eof && !flow.pending())
        pump(flow);
}

void RelayConnection::freeBuffer(Flow &flow)
{
    // A pipe that still holds bytes cannot serve another flow.
    if (flow.piped > 0)
        PipePool::discard(&flow.pipe);
    else if (flow.pipe.isValid())
        m_worker.pipes().give(&flow.pipe);
    flow.piped = 0;
    std::free(flow.buffer);
    flow.buffer = nullptr;
    flow.head = flow.tail = 0;
}

void RelayConnection::touched()
{
    m_lastActivityMs = m_worker.nowMs();
}

bool RelayConnection::captureWants(const Flow &flow) const
{
    // The conversation is made on the first bytes, so that idle
    // connections do not carry one.
    if (!m_capture)
        return m_worker.config().capture && !m_finished;
    return flow.from == Client ? m_capture->wantsClientBytes() : m_capture->wantsUpstreamBytes();
}

void RelayConnection::observe(const Flow &flow, const char *data, qsizetype size)
{
    if (!captureWants(flow))
        return;
    if (!m_capture) {
        const ProxyConfig &config = m_worker.config();
        HttpConversation::Limits limits;
        limits.head.maxBytes = config.headBytes;
        limits.head.maxHeaders = config.headHeaders;
        limits.bodyPrefixBytes = config.bodyPrefixBytes;
        m_capture = std::make_unique<HttpConversation>(m_record.id, limits);
    }
    const QByteArrayView bytes(data, size);
    const qint64 now = m_worker.wallMs();
    if (flow.from == Client)
        m_capture->clientBytes(bytes, now);
    else
        m_capture->upstreamBytes(bytes, now);
    collectExchanges();
}

void RelayConnection::collectExchanges()
{
    m_record.requests = quint32(m_capture->requestCount());
    m_record.raw = m_capture->isRaw();
    if (m_capture->hasFinished())
        m_worker.exchangesFinished(*m_capture);
}

void RelayConnection::finishCapture()
{
    if (!m_capture)
        return;
    m_capture->finish(m_worker.wallMs());
    collectExchanges();
    if (m_capture->isRaw()) {
        m_record.clientPrefix = m_capture->rawClientPrefix();
        m_record.upstreamPrefix = m_capture->rawUpstreamPrefix();
    }
    m_capture.reset();
}

// --- HTTP proxy mode

void RelayConnection::handleProxyEvent(Side side, std::uint32_t events)
{
    if (side == Upstream) {
        if (m_upstreamFd < 0)
            return; // left over from an upstream already dropped
        if (m_phase == Phase::Connecting) {
            connectReady(events);
            return;
        }
        if (events & EPOLLERR) {
            // What the upstream sent before failing still goes to the client.
            if (!m_down.eof && !m_down.pending()) {
                pump(m_down);
                if (m_finished || !m_front)
                    return;
            }
            int error = 0;
            socklen_t length = sizeof error;
            if (m_upstreamFd >= 0 && getsockopt(m_upstreamFd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error)
                sideFailed(Upstream, error);
            if (m_finished)
                return;
        }
        if (m_upstreamFd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) && !m_down.eof && !m_down.pending())
            pump(m_down);
    } else {
        if (events & EPOLLERR) {
            int error = 0;
            socklen_t length = sizeof error;
            getsockopt(m_clientFd, SOL_SOCKET, SO_ERROR, &error, &length);
            sideFailed(Client, error ? error : ECONNRESET);
            return;
        }
        if ((events & EPOLLOUT) && m_down.pending() && !flush(m_down))
            return;
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
            proxyReadClient();
    }
    if (!m_finished && m_front)
        proxyAdvance();
}

void RelayConnection::proxyReadClient()
{
    if (m_up.eof || m_finished)
        return;
    const int capacity = m_worker.config().bufferBytes;
    char *scratch = m_worker.scratch();
    for (int round = 0;; ++round) {
        if (!m_closingClient && !m_front->wantsClientBytes(capacity)) {
            // Backpressure: proxyAdvance() reads on once the upstream took some.
            m_clientThrottled = true;
            return;
        }
        if (round == 8) {
            m_worker.pumpLater(this, Client);
            return;
        }
        bool drained = false;
        const ssize_t received = receive(m_clientFd, scratch, size_t(capacity), &drained);
        if (received > 0) {
            touched();
            // Once the answer is given, what the client still sends is
            // read only so that closing does not reset the connection.
            if (!m_closingClient) {
                observe(m_up, scratch, received);
                m_front->clientBytes(QByteArrayView(scratch, received));
                // The front gave up on the upstream (a request it can no
                // longer finish): nothing more from it may reach the client.
                if (!m_front->hasUpstream() && m_upstreamFd >= 0 && m_phase == Phase::Relaying)
                    dropUpstream();
            }
            if (drained)
                return;
            continue; // until proven empty, as in pump()
        }
        if (received == 0) {
            m_up.eof = true;
            if (!m_anyFin) {
                m_anyFin = true;
                m_firstFin = Client;
            }
            touched();
            m_worker.markDirty(this);
            if (m_closingClient) {
                if (m_down.shutDown)
                    finish(m_endReason, m_record.error);
                return;
            }
            m_record.state = State::ClientHalfClosed;
            m_front->clientEnded();
            return;
        }
        const int error = errno;
        if (error == EINTR)
            continue;
        if (error != EAGAIN && error != EWOULDBLOCK)
            sideFailed(Client, error);
        return;
    }
}

void RelayConnection::proxyAdvance()
{
    using Step = HttpProxyFront::Step;
    const int capacity = m_worker.config().bufferBytes;
    for (int round = 0;; ++round) {
        // Once closing, the client has had its answer and nothing else.
        if (m_finished || !m_front || m_closingClient)
            return;
        if (round == 64) {
            // A long upload: the other ready connections get a turn, and
            // this one goes on after them (no new edge would bring it back).
            m_worker.pumpLater(this, Client);
            break;
        }
        if (m_front->becameOpaque()) {
            becomeByteRelay(m_front->outgoing().toByteArray());
            return;
        }
        const Step step = m_front->step();
        if (step == Step::Send && m_phase == Phase::Relaying && m_upstreamFd >= 0) {
            const QByteArrayView out = m_front->outgoing();
            const ssize_t n = ::send(m_upstreamFd, out.data(), size_t(out.size()), MSG_NOSIGNAL);
            if (n > 0) {
                m_front->sent(n);
                m_up.delivered += quint64(n);
                touched();
                m_worker.markDirty(this);
                continue;
            }
            const int error = errno;
            if (n < 0 && error == EINTR)
                continue;
            if (n == 0 || (error != EAGAIN && error != EWOULDBLOCK)) {
                sideFailed(Upstream, n < 0 ? error : EPIPE);
                continue;
            }
            // Would block: EPOLLOUT on the upstream brings us back.
        } else if (m_phase == Phase::Relaying
                   && (step == Step::Connect || (step == Step::Tunnel && !m_down.pending()))) {
            parkUpstream();
            if (step == Step::Connect && resumeParked(m_front->route()))
                continue;
            connectUpstream(m_front->route(), step == Step::Tunnel);
            return;
        } else if (step == Step::Answer && !m_down.pending()) {
            answerClient();
            return;
        }
        // Read on if the client was held back and there is room again.
        if (m_clientThrottled && !m_up.eof && m_front->wantsClientBytes(capacity)) {
            m_clientThrottled = false;
            proxyReadClient();
            continue;
        }
        break;
    }
    if (m_finished || !m_front || m_closingClient)
        return;
    // The client's FIN goes to the upstream once everything it sent before
    // it has (the lab's client: request, shutdown, read to EOF).
    if (m_up.eof && !m_up.shutDown && m_upstreamFd >= 0 && m_phase == Phase::Relaying
        && m_front->step() == Step::Wait && m_front->outgoing().isEmpty()) {
        m_up.shutDown = true;
        ::shutdown(m_upstreamFd, SHUT_WR);
    }
    if (m_front->idle() && !m_down.pending() && m_phase == Phase::Relaying && !m_closingClient) {
        if (m_up.eof)
            finish(Reason::ClientFin, QString());
        else if (m_front->closeWhenIdle())
            closeClientWhenFlushed(Reason::UpstreamFin);
    }
}

void RelayConnection::connectUpstream(const HttpProxyFront::Route &route, bool tunnel)
{
    dropUpstream();
    m_tunnelConnect = tunnel;
    m_record.upstream = route.text();
    m_record.upstreamAddress.clear();
    m_record.state = State::Resolving;
    m_connectErrors.clear();
    m_startedMs = m_worker.nowMs();
    m_phase = Phase::Resolving;
    m_worker.markDirty(this);
    resolve(route.host, route.port);
}

void RelayConnection::parkUpstream()
{
    // Only an upstream that owes nothing and said it stays open is kept.
    if (m_upstreamFd < 0 || !m_front->upstreamReusable() || m_front->inFlight() > 0 || m_up.shutDown)
        return;
    epoll_ctl(m_worker.epollDescriptor(), EPOLL_CTL_DEL, m_upstreamFd, nullptr);
    m_parked.park({m_front->connectedRoute(), m_upstreamFd, m_record.upstreamAddress});
    m_upstreamFd = -1;
    dropUpstream();
}

bool RelayConnection::resumeParked(const HttpProxyFront::Route &route)
{
    const UpstreamPark::Entry parked = m_parked.take(route);
    if (parked.fd < 0)
        return false;
    dropUpstream();
    m_upstreamFd = parked.fd;
    m_upstreamGeneration = (m_upstreamGeneration + 1) & 3;
    watch(Upstream);
    m_record.upstream = route.text();
    m_record.upstreamAddress = parked.address;
    m_record.state = m_up.eof ? State::ClientHalfClosed : State::Open;
    m_front->connected();
    m_worker.markDirty(this);
    return true;
}

void RelayConnection::dropUpstream()
{
    closeSide(Upstream, false);
    if (m_front)
        m_front->upstreamClosed();
    m_down.bulk = false;
    m_up.shutDown = false;
}

void RelayConnection::upstreamEndedUnderFront()
{
    touched();
    const HttpProxyFront::UpstreamEnd end = m_front->upstreamEnded();
    dropUpstream();
    // A response that ran to the end of the connection ends for the client
    // the same way; otherwise an idle upstream just goes, or a request it
    // left unanswered gets a 502 from proxyAdvance().
    if (end == HttpProxyFront::UpstreamEnd::PassOn)
        closeClientWhenFlushed(Reason::UpstreamFin);
}

bool RelayConnection::upstreamFailedUnderFront(int error)
{
    // Part of a response went out already: pass the failure on as a
    // failure (a reset), as in forwarding mode.
    if (m_front->responseUnderway())
        return false;
    const QString where = m_record.upstream;
    const bool owed = m_front->inFlight() > 0;
    dropUpstream();
    if (owed)
        m_front->failed(502, QStringLiteral("%1: %2").arg(where, errorText(error)));
    return true;
}

void RelayConnection::answerClient()
{
    const HttpProxyFront::Answer answer = m_front->answer();
    const QByteArray bytes = HttpProxyFront::answerBytes(answer);
    dropUpstream();
    m_record.error = answer.why;
    observe(m_down, bytes.constData(), bytes.size());
    if (deliverToClient(bytes))
        closeClientWhenFlushed(Reason::Error);
}

void RelayConnection::closeClientWhenFlushed(Reason reason)
{
    m_closingClient = true;
    m_endReason = reason;
    dropUpstream();
    m_parked.clear();
    // The half-close timeout bounds how long the client may keep sending.
    if (!m_anyFin) {
        m_anyFin = true;
        m_firstFin = Upstream;
    }
    m_down.eof = true;
    m_record.state = m_up.eof ? m_record.state : State::UpstreamHalfClosed;
    m_worker.markDirty(this);
    if (!m_down.pending())
        passOnFin(m_down);
    // Closing with unread input would reset the connection and could
    // destroy the answer: read the client to its FIN first.
    if (!m_finished)
        proxyReadClient();
}

bool RelayConnection::deliverToClient(const QByteArray &bytes)
{
    // Only called with nothing else waiting for the client.
    int sent = 0;
    if (!sendOrFail(m_down, bytes.constData(), int(bytes.size()), &sent))
        return false;
    if (sent < bytes.size()) {
        const int rest = int(bytes.size()) - sent;
        freeBuffer(m_down);
        m_down.buffer = static_cast<char *>(std::malloc(size_t(qMax(rest, m_worker.config().bufferBytes))));
        std::memcpy(m_down.buffer, bytes.constData() + sent, size_t(rest));
        m_down.head = 0;
        m_down.tail = rest;
    }
    return true;
}

void RelayConnection::becomeByteRelay(const QByteArray &early)
{
    // From here the connection is the core's exact relay between the client
    // and the current upstream (a CONNECT tunnel, or an upgraded protocol).
    m_front.reset();
    m_parked.clear();
    m_record.state = m_up.eof ? State::ClientHalfClosed : State::Open;
    m_worker.markDirty(this);
    if (!early.isEmpty()) {
        m_up.buffer = static_cast<char *>(std::malloc(size_t(qMax(int(early.size()), m_worker.config().bufferBytes))));
        std::memcpy(m_up.buffer, early.constData(), size_t(early.size()));
        m_up.head = 0;
        m_up.tail = int(early.size());
        if (!flush(m_up))
            return;
    } else if (m_up.eof) {
        passOnFin(m_up);
    } else {
        pump(m_up);
    }
    if (!m_finished && !m_down.eof && !m_down.pending())
        pump(m_down);
}

bool RelayConnection::isOwnListener(const SocketAddress &address) const
{
    const ProxyConfig &config = m_worker.config();
    if (address.port() != config.listenPort)
        return false;
    const QHostAddress host(address.data());
    const QHostAddress &listen = config.listenAddress;
    if (listen == QHostAddress::Any || listen == QHostAddress::AnyIPv4 || listen == QHostAddress::AnyIPv6)
        return host.isLoopback() || QNetworkInterface::allAddresses().contains(host);
    return host.isEqual(listen, QHostAddress::TolerantConversion);
}
