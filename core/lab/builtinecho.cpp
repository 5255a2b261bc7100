#include "builtinecho.h"

#include "systemerror.h"

#include <QByteArray>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <cstring>
#include <map>

namespace {

constexpr qsizetype MaxHeld = 64 * 1024;

struct Connection
{
    QByteArray held;    // received, not yet sent back
    bool eof = false;   // the client sent FIN: close once held is sent
};

} // namespace

BuiltinEcho::~BuiltinEcho()
{
    stop();
}

bool BuiltinEcho::start(QString *error)
{
    if (isRunning())
        return true;
    m_listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (m_listener < 0 || ::bind(m_listener, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0
        || ::listen(m_listener, 1024) != 0
        || ::getsockname(m_listener, reinterpret_cast<sockaddr *>(&address), &length) != 0
        || pipe2(m_wake, O_CLOEXEC | O_NONBLOCK) != 0 || (m_epoll = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        *error = QStringLiteral("cannot start the built-in echo server: %1").arg(SystemError::text(errno));
        stop();
        return false;
    }
    m_port = ntohs(address.sin_port);
    m_thread = std::thread([this] { run(); });
    return true;
}

void BuiltinEcho::stop()
{
    if (m_thread.joinable()) {
        const char byte = 0;
        [[maybe_unused]] const ssize_t written = ::write(m_wake[1], &byte, 1);
        m_thread.join();
    }
    for (int *fd : {&m_listener, &m_epoll, &m_wake[0], &m_wake[1]}) {
        if (*fd >= 0)
            ::close(*fd);
        *fd = -1;
    }
    m_port = 0;
}

void BuiltinEcho::run()
{
    const auto watch = [this](int fd, uint32_t events, int op) {
        epoll_event event{};
        event.events = events;
        event.data.fd = fd;
        epoll_ctl(m_epoll, op, fd, &event);
    };
    watch(m_listener, EPOLLIN, EPOLL_CTL_ADD);
    watch(m_wake[0], EPOLLIN, EPOLL_CTL_ADD);
    std::map<int, Connection> connections;
    const auto finish = [&](int fd) {
        ::close(fd);
        connections.erase(fd);
    };
    // Sends what is held; reads again only while there is room; closes
    // after a FIN once everything went back.
    const auto settle = [&](int fd, Connection &connection) {
        while (!connection.held.isEmpty()) {
            const ssize_t sent = ::send(fd, connection.held.constData(), size_t(connection.held.size()), MSG_NOSIGNAL);
            if (sent > 0) {
                connection.held.remove(0, sent);
                continue;
            }
            if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            finish(fd);
            return;
        }
        if (connection.eof && connection.held.isEmpty()) {
            ::shutdown(fd, SHUT_WR);
            finish(fd);
            return;
        }
        uint32_t interest = connection.held.isEmpty() ? 0u : uint32_t(EPOLLOUT);
        if (!connection.eof && connection.held.size() < MaxHeld)
            interest |= EPOLLIN | EPOLLRDHUP;
        watch(fd, interest, EPOLL_CTL_MOD);
    };

    epoll_event events[64];
    char chunk[65536];
    for (;;) {
        const int ready = epoll_wait(m_epoll, events, 64, -1);
        if (ready < 0 && errno != EINTR)
            break;
        for (int i = 0; i < ready; ++i) {
            const int fd = events[i].data.fd;
            if (fd == m_wake[0]) {
                for (const auto &entry : connections)
                    ::close(entry.first);
                return;
            }
            if (fd == m_listener) {
                for (;;) {
                    const int client = accept4(m_listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (client < 0)
                        break;
                    connections[client] = Connection();
                    watch(client, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
                }
                continue;
            }
            const auto it = connections.find(fd);
            if (it == connections.end())
                continue;
            Connection &connection = it->second;
            if (events[i].events & EPOLLERR) {
                finish(fd); // reset: nothing to send back to
                continue;
            }
            if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
                bool failed = false;
                while (!connection.eof && connection.held.size() < MaxHeld) {
                    const ssize_t n = ::recv(fd, chunk, size_t(qMin<qsizetype>(sizeof chunk, MaxHeld - connection.held.size())), 0);
                    if (n > 0) {
                        connection.held.append(chunk, n);
                    } else if (n == 0) {
                        connection.eof = true;
                    } else {
                        failed = errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
                        break;
                    }
                }
                if (failed) {
                    finish(fd); // reset or error: nothing to send back to
                    continue;
                }
            }
            settle(fd, connection);
        }
    }
}

std::function<quint16(QString *error)> BuiltinEcho::starter()
{
    auto echo = std::make_shared<BuiltinEcho>();
    return [echo](QString *error) -> quint16 { return echo->start(error) ? echo->port() : 0; };
}
