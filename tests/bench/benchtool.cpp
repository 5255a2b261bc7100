// Load generator and upstream for bench.sh (not a test).
//
//   benchtool serve            listen on 127.0.0.1, print the port; a client
//                              that sends an 8-byte big-endian length N gets N
//                              pattern bytes, then EOF; a silent client is held
//   benchtool stream PORT N    ask for N bytes through PORT, verify every byte,
//                              print "bytes seconds GB/s"
//   benchtool idle PORT COUNT  open COUNT connections, print "ready", hold them
//                              until standard input closes (at most 10 min)
//   benchtool held PORT COUNT  open COUNT connections one after another, each
//                              asking GET /small once (keep-alive) and reading
//                              the whole answer; print "ready SECONDS" (the
//                              time they took), hold them until standard
//                              input closes (at most 10 min)
//   benchtool echo             listen on 127.0.0.1, print the port, echo every
//                              byte of every client
//   benchtool trickle PORT COUNT SECONDS [PERIOD_MS]
//                              open COUNT connections, print "ready", then send
//                              a byte on each every PERIOD_MS (500 by default,
//                              spread evenly) and read the echoes, for SECONDS;
//                              print "bytes echoed"

#include "loopback.h"

#include <QElapsedTimer>

#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>

using namespace Loopback;

namespace {

// Not a power of two, so a reordered or repeated buffer cannot match.
constexpr qsizetype PatternSize = 1024 * 1024 + 7;

const QByteArray &pattern()
{
    static const QByteArray bytes = randomBytes(PatternSize, 42);
    return bytes;
}

void raiseDescriptorLimit()
{
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
}

void streamTo(int fd, quint64 total)
{
    const QByteArray &bytes = pattern();
    quint64 sent = 0;
    while (sent < total) {
        const qsizetype offset = qsizetype(sent % quint64(PatternSize));
        const size_t chunk = size_t(qMin<quint64>(total - sent, quint64(PatternSize - offset)));
        const ssize_t n = ::send(fd, bytes.constData() + offset, chunk, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return;
        }
        sent += quint64(n);
    }
    ::shutdown(fd, SHUT_WR);
    char sink[256];
    while (::recv(fd, sink, sizeof sink, 0) > 0) {
    }
}

// A server: a listener on 127.0.0.1 whose port is printed, and an epoll
// loop that accepts each connection (with acceptFlags) and hands each
// readable one to readable(epoll, fd). Ends when its parent (the bench
// script) goes away.
int serveEach(int acceptFlags, const std::function<void(int epoll, int fd)> &readable)
{
    raiseDescriptorLimit();
    quint16 port = 0;
    Socket listener = listenOn("127.0.0.1", 8192, &port);
    if (!listener.isValid())
        return 1;
    std::printf("%u\n", port);
    std::fflush(stdout);
    const int epoll = epoll_create1(EPOLL_CLOEXEC);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = listener.fd();
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener.fd(), &event);
    epoll_event events[256];
    for (;;) {
        if (getppid() == 1)
            return 0;
        const int ready = epoll_wait(epoll, events, 256, 1000);
        for (int i = 0; i < ready; ++i) {
            const int fd = events[i].data.fd;
            if (fd != listener.fd()) {
                readable(epoll, fd);
                continue;
            }
            // One per event: the listener blocks, and level-triggered epoll
            // reports the rest of the backlog again.
            const int client = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC | acceptFlags);
            if (client < 0)
                continue;
            epoll_event watch{};
            watch.events = EPOLLIN;
            watch.data.fd = client;
            epoll_ctl(epoll, EPOLL_CTL_ADD, client, &watch);
        }
    }
}

// Each client sends 8 bytes (a big-endian count) and gets that many bytes.
int serve()
{
    return serveEach(0, [](int epoll, int fd) {
        epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
        unsigned char header[8];
        if (::recv(fd, header, sizeof header, MSG_WAITALL) != 8) {
            ::close(fd);
            return;
        }
        quint64 total = 0;
        for (unsigned char byte : header)
            total = (total << 8) | byte;
        std::thread([fd, total] {
            streamTo(fd, total);
            ::close(fd);
        }).detach();
    });
}

int stream(quint16 port, quint64 total)
{
    Socket socket = connectTo("127.0.0.1", port);
    if (!socket.isValid()) {
        std::fprintf(stderr, "benchtool: cannot connect to port %u\n", port);
        return 1;
    }
    unsigned char header[8];
    for (int i = 0; i < 8; ++i)
        header[i] = static_cast<unsigned char>(total >> (56 - 8 * i));
    sendAll(socket.fd(), QByteArray(reinterpret_cast<char *>(header), 8));
    const QByteArray &bytes = pattern();
    std::vector<char> buffer(1 << 20);
    quint64 received = 0;
    QElapsedTimer clock;
    clock.start();
    for (;;) {
        const ssize_t n = ::recv(socket.fd(), buffer.data(), buffer.size(), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        // Compare in runs that wrap around the pattern.
        qsizetype done = 0;
        while (done < n) {
            const qsizetype offset = qsizetype((received + quint64(done)) % quint64(PatternSize));
            const qsizetype run = qMin<qsizetype>(n - done, PatternSize - offset);
            if (std::memcmp(buffer.data() + done, bytes.constData() + offset, size_t(run)) != 0) {
                std::fprintf(stderr, "benchtool: wrong byte near offset %llu\n",
                             static_cast<unsigned long long>(received + quint64(done)));
                return 2;
            }
            done += run;
        }
        received += quint64(n);
    }
    socket.shutdownWrite();
    const double seconds = double(clock.nsecsElapsed()) / 1e9;
    if (received != total) {
        std::fprintf(stderr, "benchtool: got %llu of %llu bytes\n", static_cast<unsigned long long>(received),
                     static_cast<unsigned long long>(total));
        return 2;
    }
    std::printf("%llu %.3f %.3f\n", static_cast<unsigned long long>(received), seconds, double(received) / seconds / 1e9);
    return 0;
}

int idle(quint16 port, int count)
{
    raiseDescriptorLimit();
    std::vector<Socket> sockets;
    sockets.reserve(size_t(count));
    for (int i = 0; i < count; ++i) {
        Socket socket = connectTo("127.0.0.1", port);
        if (!socket.isValid()) {
            std::fprintf(stderr, "benchtool: connection %d failed\n", i);
            return 1;
        }
        sockets.push_back(std::move(socket));
    }
    std::printf("ready\n");
    std::fflush(stdout);
    pollfd in{STDIN_FILENO, POLLIN, 0};
    poll(&in, 1, 600'000);
    return 0;
}

// One keep-alive request for /small on fd and its whole answer (nginx's
// "hello\n", bench/common.sh): false when the connection failed or ended
// first.
bool askOnce(int fd)
{
    static const QByteArray request = "GET /small HTTP/1.1\r\nHost: bench\r\n\r\n";
    QByteArray pending;
    return sendAll(fd, request) && readHttpMessage(fd, &pending).endsWith("\r\n\r\nhello\n");
}

// The setup rate of held connections: each is made and carries one
// exchange, through the proxy to its upstream, before the next one starts.
int held(quint16 port, int count)
{
    raiseDescriptorLimit();
    std::vector<Socket> sockets;
    sockets.reserve(size_t(count));
    QElapsedTimer clock;
    clock.start();
    for (int i = 0; i < count; ++i) {
        Socket socket = connectTo("127.0.0.1", port);
        if (!socket.isValid() || !askOnce(socket.fd())) {
            std::fprintf(stderr, "benchtool: connection %d failed\n", i);
            return 1;
        }
        sockets.push_back(std::move(socket));
    }
    std::printf("ready %.3f\n", double(clock.nsecsElapsed()) / 1e9);
    std::fflush(stdout);
    pollfd in{STDIN_FILENO, POLLIN, 0};
    poll(&in, 1, 600'000);
    return 0;
}

// Sends back what each client sends.
int echo()
{
    return serveEach(SOCK_NONBLOCK, [](int epoll, int fd) {
        char buffer[4096];
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) {
            epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
            ::close(fd);
            return;
        }
        // A few bytes at a time: the send queue always has room.
        ::send(fd, buffer, size_t(n), MSG_NOSIGNAL | MSG_DONTWAIT);
    });
}

int trickle(quint16 port, int count, int seconds, int periodMs)
{
    raiseDescriptorLimit();
    std::vector<Socket> sockets;
    sockets.reserve(size_t(count));
    for (int i = 0; i < count; ++i) {
        Socket socket = connectTo("127.0.0.1", port);
        if (!socket.isValid()) {
            std::fprintf(stderr, "benchtool: connection %d failed\n", i);
            return 1;
        }
        sockets.push_back(std::move(socket));
    }
    std::printf("ready\n");
    std::fflush(stdout);
    // Every connection gets a byte per cycle, in slices of 10 ms.
    const int Slices = qMax(1, periodMs / 10);
    quint64 echoed = 0;
    QElapsedTimer clock;
    clock.start();
    const qint64 until = qint64(seconds) * 1000;
    char sink[256];
    for (qint64 slice = 0; clock.elapsed() < until; ++slice) {
        const size_t first = size_t(slice % Slices) * sockets.size() / Slices;
        const size_t last = size_t(slice % Slices + 1) * sockets.size() / Slices;
        for (size_t i = first; i < last; ++i) {
            ::send(sockets[i].fd(), "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            for (;;) {
                const ssize_t n = ::recv(sockets[i].fd(), sink, sizeof sink, MSG_DONTWAIT);
                if (n <= 0)
                    break;
                echoed += quint64(n);
            }
        }
        const qint64 next = (slice + 1) * 10;
        if (next > clock.elapsed())
            std::this_thread::sleep_for(std::chrono::milliseconds(next - clock.elapsed()));
    }
    std::printf("%llu\n", static_cast<unsigned long long>(echoed));
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    const QByteArray mode = argc > 1 ? QByteArray(argv[1]) : QByteArray();
    if (mode == "serve" && argc == 2)
        return serve();
    if (mode == "stream" && argc == 4)
        return stream(quint16(atoi(argv[2])), std::strtoull(argv[3], nullptr, 10));
    if (mode == "idle" && argc == 4)
        return idle(quint16(atoi(argv[2])), atoi(argv[3]));
    if (mode == "held" && argc == 4)
        return held(quint16(atoi(argv[2])), atoi(argv[3]));
    if (mode == "echo" && argc == 2)
        return echo();
    if (mode == "trickle" && (argc == 5 || argc == 6))
        return trickle(quint16(atoi(argv[2])), atoi(argv[3]), atoi(argv[4]), argc == 6 ? atoi(argv[5]) : 500);
    std::fprintf(stderr, "usage: benchtool serve | stream PORT BYTES | idle PORT COUNT | held PORT COUNT | echo | trickle PORT COUNT SECONDS [PERIOD_MS]\n");
    return 64;
}
