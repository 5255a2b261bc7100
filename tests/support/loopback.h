#pragma once

#include <QByteArray>

#include <cstdint>
#include <QElapsedTimer>
#include <QString>
#include <QTest>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

// Blocking POSIX sockets on loopback for tests: real clients and upstreams,
// independent of the Qt code under test. Every socket made here has send and
// receive timeouts, so a test thread can never hang for good.
namespace Loopback {

constexpr int SocketTimeoutMs = 20'000;

class Socket
{
public:
    Socket() = default;
    explicit Socket(int fd) : m_fd(fd) {}
    Socket(Socket &&other) noexcept : m_fd(other.release()) {}
    Socket &operator=(Socket &&other) noexcept;
    ~Socket() { close(); }

    int fd() const { return m_fd; }
    bool isValid() const { return m_fd >= 0; }
    int release();
    void close();
    // Abortive close: the peer sees a reset.
    void reset();
    bool shutdownWrite();

private:
    int m_fd = -1;
};

// Listens on address ("127.0.0.1" or "::1") with a free port.
Socket listenOn(const char *address, int backlog, quint16 *port);
// Connects with a blocking connect; invalid on failure.
Socket connectTo(const char *address, quint16 port);
void setTimeouts(int fd, int ms);
bool sendAll(int fd, const QByteArray &data);
// Reads until EOF or an error; *error gets errno of the error, 0 for EOF.
QByteArray readUntilEof(int fd, int *error = nullptr);
QByteArray readExactly(int fd, qsizetype size);
// Reads one HTTP message framed by Content-Length (or none) from fd;
// *pending keeps what was read past it. Empty at EOF before a head; short
// when the connection ended inside the body.
QByteArray readHttpMessage(int fd, QByteArray *pending);
QByteArray randomBytes(qsizetype size, quint32 seed);
QByteArray sha256(const QByteArray &data);
// gzip as a server sends it (zlib's encoder), for bodies the capture decodes.
QByteArray gzip(const QByteArray &data);
bool ipv6Available();
// A port nothing listens on (bound, then closed).
quint16 unusedPort();
// Bytes received on fd and not read yet.
int queuedToRead(int fd);
// Waits up to timeoutMs for a connecting socket's answer, and returns it as
// the epoll events a worker would get (EPOLLOUT, EPOLLERR, EPOLLHUP), or 0
// on the timeout: poll() standing in for epoll.
std::uint32_t connectEvents(int fd, int timeoutMs);
int openDescriptorCount();
int threadCount();

// Runs blocking work on another thread while this thread's event loop keeps
// serving the proxy under test, for at most timeoutMs.
template <typename F>
auto offThread(F &&work, int timeoutMs = 60'000) -> decltype(work())
{
    auto future = std::async(std::launch::async, std::forward<F>(work));
    QElapsedTimer clock;
    clock.start();
    while (future.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready
           && clock.elapsed() < timeoutMs) {
        QTest::qWait(2);
    }
    return future.get();
}

// One request on a new connection to port, off this thread: what came
// back until EOF. With halfClose the client shuts down writing after its
// request, as the lab's client does.
inline QByteArray askOnce(quint16 port, const QByteArray &request, bool halfClose = false)
{
    return offThread([&] {
        Socket client = connectTo("127.0.0.1", port);
        sendAll(client.fd(), request);
        if (halfClose)
            client.shutdownWrite();
        return readUntilEof(client.fd());
    });
}

// Spins this thread's event loop until a counter (bytes written by a
// server, say) stops growing between two looks 300 ms apart, or timeoutMs
// pass; returns its last value.
qint64 waitUntilSteady(const std::function<qint64()> &counter, int timeoutMs = 15'000);

// A server's own thread and the pipe that tells it to stop.
class ServerThread
{
public:
    ServerThread();
    ~ServerThread(); // stops and joins

    void start(std::function<void()> body);
    // Wakes the body (readable stopDescriptor()) and waits for it to return.
    void stop();
    int stopDescriptor() const { return m_wake[0]; }

private:
    int m_wake[2] = {-1, -1};
    std::thread m_thread;
};

// A listener on 127.0.0.1 that never accepts, with its accept queue
// already full: further SYNs are dropped and a connect can only time out.
class UnansweringServer
{
public:
    UnansweringServer();
    quint16 port() const { return m_port; }

private:
    quint16 m_port = 0; // before m_listener, whose construction sets it
    Socket m_listener;
    std::vector<Socket> m_fillers;
};

// An upstream that echoes every byte until its client sends FIN, then
// closes, as the lab's echo server does. One thread, epoll, any number of
// clients.
class EchoServer
{
public:
    explicit EchoServer(const char *address = "127.0.0.1");
    ~EchoServer();

    quint16 port() const { return m_port; }
    int accepted() const { return m_accepted.load(); }

private:
    void run();

    Socket m_listener;
    quint16 m_port = 0;
    int m_epoll = -1; // made here, not in the thread, so descriptor counts are stable
    std::atomic<int> m_accepted{0};
    ServerThread m_thread;
};

// An upstream that runs a handler on its own thread for each connection it
// accepts; the socket is closed when the handler returns.
class ScriptedServer
{
public:
    using Handler = std::function<void(Socket &connection, int index)>;

    explicit ScriptedServer(Handler handler, const char *address = "127.0.0.1");
    ~ScriptedServer(); // waits for running handlers

    quint16 port() const { return m_port; }
    int accepted() const { return m_accepted.load(); }

private:
    void run();

    Handler m_handler;
    Socket m_listener;
    quint16 m_port = 0;
    std::atomic<int> m_accepted{0};
    ServerThread m_thread;
    std::mutex m_mutex;
    std::vector<std::thread> m_handlers;
};

} // namespace Loopback
