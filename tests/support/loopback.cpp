#include "loopback.h"

#include <QCryptographicHash>
#include <QDir>
#include <QRandomGenerator>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <map>

namespace Loopback {

Socket &Socket::operator=(Socket &&other) noexcept
{
    if (this != &other) {
        close();
        m_fd = other.release();
    }
    return *this;
}

int Socket::release()
{
    const int fd = m_fd;
    m_fd = -1;
    return fd;
}

void Socket::close()
{
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = -1;
}

void Socket::reset()
{
    if (m_fd < 0)
        return;
    const linger abortive{1, 0};
    setsockopt(m_fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
    close();
}

bool Socket::shutdownWrite()
{
    return ::shutdown(m_fd, SHUT_WR) == 0;
}

namespace {

bool fillAddress(const char *address, quint16 port, sockaddr_storage *storage, socklen_t *length)
{
    *storage = {};
    auto *in = reinterpret_cast<sockaddr_in *>(storage);
    if (inet_pton(AF_INET, address, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        *length = sizeof *in;
        return true;
    }
    auto *in6 = reinterpret_cast<sockaddr_in6 *>(storage);
    if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *length = sizeof *in6;
        return true;
    }
    return false;
}

quint16 localPort(int fd)
{
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    getsockname(fd, reinterpret_cast<sockaddr *>(&storage), &length);
    if (storage.ss_family == AF_INET)
        return ntohs(reinterpret_cast<sockaddr_in *>(&storage)->sin_port);
    return ntohs(reinterpret_cast<sockaddr_in6 *>(&storage)->sin6_port);
}

} // namespace

void setTimeouts(int fd, int ms)
{
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

Socket listenOn(const char *address, int backlog, quint16 *port)
{
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (!fillAddress(address, 0, &storage, &length))
        return Socket();
    Socket socket(::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int on = 1;
    setsockopt(socket.fd(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(socket.fd(), reinterpret_cast<sockaddr *>(&storage), length) != 0 || listen(socket.fd(), backlog) != 0)
        return Socket();
    *port = localPort(socket.fd());
    return socket;
}

Socket connectTo(const char *address, quint16 port)
{
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (!fillAddress(address, port, &storage, &length))
        return Socket();
    Socket socket(::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    setTimeouts(socket.fd(), SocketTimeoutMs);
    if (::connect(socket.fd(), reinterpret_cast<sockaddr *>(&storage), length) != 0)
        return Socket();
    return socket;
}

bool sendAll(int fd, const QByteArray &data)
{
    qsizetype sent = 0;
    while (sent < data.size()) {
        const ssize_t n = ::send(fd, data.constData() + sent, size_t(data.size() - sent), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        sent += n;
    }
    return true;
}

QByteArray readUntilEof(int fd, int *error)
{
    QByteArray data;
    char chunk[65536];
    for (;;) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n > 0) {
            data.append(chunk, n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (error)
            *error = n == 0 ? 0 : errno;
        return data;
    }
}

QByteArray readHttpMessage(int fd, QByteArray *pending)
{
    qsizetype end;
    while ((end = pending->indexOf("\r\n\r\n")) < 0) {
        char chunk[16384];
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0)
            return QByteArray();
        pending->append(chunk, n);
    }
    const QByteArray head = pending->left(end + 4);
    qsizetype length = 0;
    for (const QByteArray &line : head.split('\n')) {
        if (line.toLower().startsWith("content-length:"))
            length = line.mid(15).trimmed().toLongLong();
    }
    while (pending->size() < end + 4 + length) {
        char chunk[16384];
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0)
            break;
        pending->append(chunk, n);
    }
    const QByteArray message = pending->left(end + 4 + length);
    pending->remove(0, message.size());
    return message;
}

QByteArray readExactly(int fd, qsizetype size)
{
    QByteArray data(size, Qt::Uninitialized);
    qsizetype got = 0;
    while (got < size) {
        const ssize_t n = ::recv(fd, data.data() + got, size_t(size - got), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += n;
    }
    data.truncate(got);
    return data;
}

qint64 waitUntilSteady(const std::function<qint64()> &counter, int timeoutMs)
{
    qint64 previous = -1;
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < timeoutMs) {
        QTest::qWait(300);
        const qint64 now = counter();
        if (now == previous && previous > 0)
            break;
        previous = now;
    }
    return counter();
}

QByteArray randomBytes(qsizetype size, quint32 seed)
{
    QByteArray data(size, Qt::Uninitialized);
    QRandomGenerator generator(seed);
    generator.fillRange(reinterpret_cast<quint32 *>(data.data()), size / 4);
    for (qsizetype i = size / 4 * 4; i < size; ++i)
        data[i] = char(generator.generate());
    return data;
}

QByteArray sha256(const QByteArray &data)
{
    return QCryptographicHash::hash(data, QCryptographicHash::Sha256).toHex();
}

bool ipv6Available()
{
    quint16 port = 0;
    return listenOn("::1", 1, &port).isValid();
}

quint16 unusedPort()
{
    quint16 port = 0;
    listenOn("127.0.0.1", 1, &port);
    return port;
}

std::uint32_t connectEvents(int fd, int timeoutMs)
{
    pollfd ready{fd, POLLOUT, 0};
    if (::poll(&ready, 1, timeoutMs) != 1)
        return 0;
    std::uint32_t events = 0;
    events |= (ready.revents & POLLOUT) ? std::uint32_t(EPOLLOUT) : 0u;
    events |= (ready.revents & POLLERR) ? std::uint32_t(EPOLLERR) : 0u;
    events |= (ready.revents & POLLHUP) ? std::uint32_t(EPOLLHUP) : 0u;
    return events;
}

int queuedToRead(int fd)
{
    int queued = 0;
    ioctl(fd, FIONREAD, &queued);
    return queued;
}

int openDescriptorCount()
{
    return int(QDir(QStringLiteral("/proc/self/fd")).entryList(QDir::Files | QDir::System | QDir::NoDotAndDotDot).size());
}

int threadCount()
{
    return int(QDir(QStringLiteral("/proc/self/task")).entryList(QDir::Dirs | QDir::NoDotAndDotDot).size());
}

ServerThread::ServerThread()
{
    if (pipe2(m_wake, O_CLOEXEC) != 0)
        m_wake[0] = m_wake[1] = -1;
}

ServerThread::~ServerThread()
{
    stop();
    for (int fd : m_wake) {
        if (fd >= 0)
            ::close(fd);
    }
}

void ServerThread::start(std::function<void()> body)
{
    m_thread = std::thread(std::move(body));
}

void ServerThread::stop()
{
    if (!m_thread.joinable())
        return;
    [[maybe_unused]] const ssize_t n = ::write(m_wake[1], "x", 1);
    m_thread.join();
}

EchoServer::EchoServer(const char *address)
{
    m_listener = listenOn(address, 4096, &m_port);
    m_epoll = epoll_create1(EPOLL_CLOEXEC);
    m_thread.start([this] { run(); });
}

EchoServer::~EchoServer()
{
    m_thread.stop();
}

void EchoServer::run()
{
    struct Pending
    {
        QByteArray data;
        bool eof = false;
    };
    const int epoll = m_epoll;
    auto watch = [epoll](int fd, uint32_t events, int op) {
        epoll_event event{};
        event.events = events;
        event.data.fd = fd;
        epoll_ctl(epoll, op, fd, &event);
    };
    fcntl(m_listener.fd(), F_SETFL, O_NONBLOCK);
    watch(m_listener.fd(), EPOLLIN, EPOLL_CTL_ADD);
    watch(m_thread.stopDescriptor(), EPOLLIN, EPOLL_CTL_ADD);
    std::map<int, Pending> connections;
    auto finish = [&](int fd) {
        ::close(fd);
        connections.erase(fd);
    };
    epoll_event events[64];
    char chunk[65536];
    for (;;) {
        const int ready = epoll_wait(epoll, events, 64, 1000);
        for (int i = 0; i < ready; ++i) {
            const int fd = events[i].data.fd;
            if (fd == m_thread.stopDescriptor()) {
                for (const auto &entry : connections)
                    ::close(entry.first);
                ::close(epoll);
                return;
            }
            if (fd == m_listener.fd()) {
                for (;;) {
                    const int client = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (client < 0)
                        break;
                    ++m_accepted;
                    connections[client] = Pending();
                    watch(client, EPOLLIN, EPOLL_CTL_ADD);
                }
                continue;
            }
            Pending &pending = connections[fd];
            if (events[i].events & EPOLLOUT) {
                const ssize_t n = ::send(fd, pending.data.constData(), size_t(pending.data.size()), MSG_NOSIGNAL);
                if (n > 0)
                    pending.data.remove(0, n);
                else if (n < 0 && errno != EAGAIN) {
                    finish(fd);
                    continue;
                }
            } else if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
                if (n > 0) {
                    pending.data.append(chunk, n);
                    const ssize_t sent = ::send(fd, pending.data.constData(), size_t(pending.data.size()), MSG_NOSIGNAL);
                    if (sent > 0)
                        pending.data.remove(0, sent);
                } else if (n == 0) {
                    pending.eof = true;
                } else if (errno != EAGAIN) {
                    finish(fd);
                    continue;
                }
            }
            if (pending.eof && pending.data.isEmpty()) {
                finish(fd);
                continue;
            }
            // Read no more while echoed bytes wait: that keeps it bounded.
            watch(fd, pending.data.isEmpty() ? (pending.eof ? 0u : uint32_t(EPOLLIN)) : uint32_t(EPOLLOUT), EPOLL_CTL_MOD);
        }
    }
}

ScriptedServer::ScriptedServer(Handler handler, const char *address)
    : m_handler(std::move(handler))
{
    m_listener = listenOn(address, 1024, &m_port);
    m_thread.start([this] { run(); });
}

ScriptedServer::~ScriptedServer()
{
    m_thread.stop();
    std::lock_guard<std::mutex> lock(m_mutex);
    for (std::thread &handler : m_handlers)
        handler.join();
}

void ScriptedServer::run()
{
    for (;;) {
        pollfd fds[2] = {{m_listener.fd(), POLLIN, 0}, {m_thread.stopDescriptor(), POLLIN, 0}};
        if (poll(fds, 2, 1000) <= 0)
            continue;
        if (fds[1].revents)
            return;
        const int fd = accept4(m_listener.fd(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        setTimeouts(fd, SocketTimeoutMs);
        const int index = m_accepted++;
        std::lock_guard<std::mutex> lock(m_mutex);
        m_handlers.emplace_back([this, fd, index] {
            Socket connection(fd);
            m_handler(connection, index);
        });
    }
}

UnansweringServer::UnansweringServer()
    : m_listener(listenOn("127.0.0.1", 0, &m_port))
{
    for (int i = 0; i < 4; ++i) {
        Socket filler(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(m_port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::connect(filler.fd(), reinterpret_cast<sockaddr *>(&address), sizeof address);
        m_fillers.push_back(std::move(filler));
    }
    // The handshakes of the fillers complete in the kernel meanwhile.
    QTest::qWait(100);
}

} // namespace Loopback

QByteArray Loopback::gzip(const QByteArray &data)
{
    z_stream stream{};
    deflateInit2(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    QByteArray out(qsizetype(deflateBound(&stream, uLong(data.size()))) + 32, Qt::Uninitialized);
    stream.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
    stream.avail_in = uInt(data.size());
    stream.next_out = reinterpret_cast<Bytef *>(out.data());
    stream.avail_out = uInt(out.size());
    deflate(&stream, Z_FINISH);
    out.resize(qsizetype(stream.total_out));
    deflateEnd(&stream);
    return out;
}
