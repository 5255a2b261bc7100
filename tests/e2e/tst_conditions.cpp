// Network conditions on real connections: bandwidth, latency, jitter,
// slicing and the connect delay, each measured by the client against a
// scripted upstream on loopback, with the bytes checked by digest.

#include "conditionrule.h"
#include "loopback.h"
#include "monotonicclock.h"
#include "runningproxy.h"
#include "ruledconfig.h"

#include <QFile>
#include <QTest>

#include <algorithm>
#include <atomic>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <sys/socket.h>
#include <thread>

using namespace Loopback;

namespace {

// Sends as fast as the connection takes it until the client goes or stop
// is set; counts what the kernel took.
struct FastSource
{
    std::atomic<bool> stop{false};
    std::atomic<qint64> sent{0};

    ScriptedServer::Handler handler()
    {
        return [this](Socket &connection, int) {
            const QByteArray chunk = randomBytes(64 * 1024, 7);
            while (!stop.load()) {
                const ssize_t n = ::send(connection.fd(), chunk.constData(), size_t(chunk.size()), MSG_NOSIGNAL);
                if (n <= 0) {
                    if (n < 0 && errno == EAGAIN)
                        continue; // the send timeout: the proxy holds back
                    return;
                }
                sent += n;
            }
        };
    }
};

// The most a socket's send buffer grows to by itself (tcp_wmem's third).
qint64 kernelSendBufferMost()
{
    QFile file(QStringLiteral("/proc/sys/net/ipv4/tcp_wmem"));
    if (!file.open(QIODevice::ReadOnly))
        return 4 * 1024 * 1024; // Linux's usual
    return file.readAll().simplified().split(' ').value(2).toLongLong();
}

// Reads for durationUs from the first byte; the bytes counted.
qint64 readFor(int fd, qint64 durationUs)
{
    char buffer[64 * 1024];
    qint64 total = 0;
    qint64 startUs = -1;
    for (;;) {
        const qint64 now = MonotonicClock::nowUs();
        if (startUs >= 0 && now - startUs >= durationUs)
            return total;
        pollfd ready{fd, POLLIN, 0};
        const int waitMs = startUs < 0 ? 5000 : int((startUs + durationUs - now) / 1000) + 1;
        if (::poll(&ready, 1, waitMs) <= 0)
            continue;
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n <= 0 && !(n < 0 && errno == EAGAIN))
            return total;
        if (n > 0) {
            if (startUs < 0)
                startUs = MonotonicClock::nowUs();
            total += n;
        }
    }
}

qint64 median(std::vector<qint64> values)
{
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

// An origin behind an HTTP proxy: reads one request and its body (by
// Content-Length), notes when the last of it came and how many bytes came
// at all, and answers with the body's digest.
class DigestOrigin
{
public:
    DigestOrigin()
        : m_server([this](Socket &connection, int) { serve(connection.fd()); })
    {
    }

    quint16 port() const { return m_server.port(); }
    qint64 wholeAtUs() const { return m_wholeAtUs.load(); }
    qint64 bytes() const { return m_bytes.load(); }

    QByteArray post(const QByteArray &body) const
    {
        const QByteArray authority = "127.0.0.1:" + QByteArray::number(port());
        return "POST http://" + authority + "/up HTTP/1.1\r\nHost: " + authority + "\r\nContent-Length: "
            + QByteArray::number(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    }

private:
    void serve(int fd)
    {
        QByteArray request;
        char chunk[65536];
        qsizetype end = -1;
        qsizetype length = -1;
        while (length < 0 || request.size() < end + 4 + length) {
            const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0)
                return;
            m_bytes += n;
            request.append(chunk, n);
            if (length < 0 && (end = request.indexOf("\r\n\r\n")) >= 0) {
                const qsizetype at = request.toLower().indexOf("content-length:");
                length = at < 0 ? 0 : request.mid(at + 15, request.indexOf('\r', at) - at - 15).trimmed().toLongLong();
            }
        }
        m_wholeAtUs = MonotonicClock::nowUs();
        const QByteArray digest = sha256(request.mid(end + 4)).toHex();
        sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 64\r\nConnection: close\r\n\r\n" + digest);
    }

    std::atomic<qint64> m_wholeAtUs{-1};
    std::atomic<qint64> m_bytes{0};
    ScriptedServer m_server; // last: its handler uses the members above
};

// Sends a request through the proxy (then, with finAfter, its FIN, as the
// lab's client does); how long until the origin had all of it (µs), and
// the answer.
std::pair<qint64, QByteArray> timedRequest(quint16 proxyPort, const DigestOrigin &origin, const QByteArray &request,
                                           bool finAfter = false)
{
    return offThread([&] {
        Socket client = connectTo("127.0.0.1", proxyPort);
        QTest::qSleep(20); // accepted before the clock starts
        const qint64 start = MonotonicClock::nowUs();
        sendAll(client.fd(), request);
        if (finAfter)
            client.shutdownWrite();
        const QByteArray answer = readUntilEof(client.fd());
        return std::make_pair(origin.wholeAtUs() - start, answer);
    });
}

qint64 residentBytes()
{
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n')) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').first().toLongLong() * 1024;
    }
    return -1;
}

} // namespace

class tst_Conditions : public QObject
{
    Q_OBJECT
private slots:
    void bandwidthDown();
    void sharedBandwidth();
    void latencyAddsToFirstByte();
    void latencyBothWaysAddsToRoundTrip();
    void jitterKeepsOrder();
    void latencyCountsOncePerTransfer();
    void slicing();
    void connectDelay();
    void slowDestinationHoldsTheSource();
    void probabilityZeroNeverApplies();
    void thousandDelayedConnections();
    void httpProxyRequestsTakeTheUpConditions();
    void httpProxyRequestsFallIntoABlackHole();
};

void tst_Conditions::bandwidthDown()
{
    FastSource source;
    ScriptedServer upstream(source.handler());
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port(), {QStringLiteral("down:bandwidth=1000000B/s")})));
    const qint64 received = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        const qint64 total = readFor(client.fd(), 10'000'000);
        source.stop = true;
        client.reset();
        return total;
    });
    qInfo("received %lld bytes in 10 s at 1,000,000 B/s", received);
    QVERIFY2(qAbs(received - 10'000'000) <= 500'000, qPrintable(QString::number(received)));
}

void tst_Conditions::sharedBandwidth()
{
    FastSource source;
    ScriptedServer upstream(source.handler());
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port(), {QStringLiteral("down:bandwidth=1MB/s,shared")})));
    std::vector<qint64> each(4, 0);
    offThread([&] {
        std::vector<Socket> clients;
        for (int i = 0; i < 4; ++i)
            clients.push_back(connectTo("127.0.0.1", proxy.port()));
        std::vector<std::thread> readers;
        for (int i = 0; i < 4; ++i)
            readers.emplace_back([&, i] { each[size_t(i)] = readFor(clients[size_t(i)].fd(), 10'000'000); });
        for (std::thread &reader : readers)
            reader.join();
        source.stop = true;
        for (Socket &client : clients)
            client.reset();
        return 0;
    });
    qint64 total = 0;
    for (const qint64 bytes : each)
        total += bytes;
    qInfo("shared 1 MB/s over 10 s: %lld %lld %lld %lld, %lld in all", each[0], each[1], each[2], each[3], total);
    QVERIFY2(qAbs(total - 10'000'000) <= 500'000, qPrintable(QString::number(total)));
    for (const qint64 bytes : each)
        QVERIFY2(bytes >= total * 15 / 100, qPrintable(QString::number(bytes)));
}

// The client asks, the upstream answers at once; the time to the first
// byte of the answer, median of many, with and without the latency.
void tst_Conditions::latencyAddsToFirstByte()
{
    ScriptedServer upstream([](Socket &connection, int) {
        char request[16];
        if (::recv(connection.fd(), request, sizeof request, 0) > 0)
            sendAll(connection.fd(), QByteArrayLiteral("answer"));
        char rest;
        ::recv(connection.fd(), &rest, 1, 0);
    });
    auto firstByteUs = [&](const QStringList &conditions) {
        RunningProxy proxy;
        if (!proxy.start(ruledConfig(upstream.port(), conditions)))
            return qint64(-1);
        return offThread([&] {
            std::vector<qint64> times;
            for (int i = 0; i < 15; ++i) {
                Socket client = connectTo("127.0.0.1", proxy.port());
                // The connection is relaying before the clock starts.
                QTest::qSleep(20);
                const qint64 start = MonotonicClock::nowUs();
                sendAll(client.fd(), QByteArrayLiteral("ask"));
                char first;
                if (::recv(client.fd(), &first, 1, 0) != 1)
                    return qint64(-1);
                times.push_back(MonotonicClock::nowUs() - start);
            }
            return median(times);
        });
    };
    const qint64 plain = firstByteUs({});
    const qint64 delayed = firstByteUs({QStringLiteral("down:latency=100ms")});
    qInfo("time to first byte: %lld µs plain, %lld µs with 100 ms down", plain, delayed);
    QVERIFY(plain >= 0 && delayed >= 0);
    QVERIFY2(qAbs(delayed - plain - 100'000) <= 10'000, qPrintable(QString::number(delayed - plain)));
}

void tst_Conditions::latencyBothWaysAddsToRoundTrip()
{
    EchoServer echo;
    auto roundTripUs = [&](const QStringList &conditions) {
        RunningProxy proxy;
        if (!proxy.start(ruledConfig(echo.port(), conditions)))
            return qint64(-1);
        return offThread([&] {
            Socket client = connectTo("127.0.0.1", proxy.port());
            std::vector<qint64> times;
            for (int i = 0; i < 15; ++i) {
                const qint64 start = MonotonicClock::nowUs();
                sendAll(client.fd(), QByteArrayLiteral("ping"));
                if (readExactly(client.fd(), 4) != "ping")
                    return qint64(-1);
                times.push_back(MonotonicClock::nowUs() - start);
            }
            return median(times);
        });
    };
    const qint64 plain = roundTripUs({});
    const qint64 delayed = roundTripUs({QStringLiteral("both:latency=50ms")});
    qInfo("echo round trip: %lld µs plain, %lld µs with 50 ms each way", plain, delayed);
    QVERIFY(plain >= 0 && delayed >= 0);
    QVERIFY2(qAbs(delayed - plain - 100'000) <= 10'000, qPrintable(QString::number(delayed - plain)));
}

void tst_Conditions::jitterKeepsOrder()
{
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(echo.port(), {QStringLiteral("both:latency=20ms,jitter=15ms")})));
    const QByteArray sent = randomBytes(300 * 100, 11);
    const QByteArray echoed = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        // 300 small writes 1 ms apart: each read by the proxy on its own
        // and given its own draw of the jitter.
        std::thread writer([&] {
            for (qsizetype at = 0; at < sent.size(); at += 100) {
                sendAll(client.fd(), sent.mid(at, 100));
                QTest::qSleep(1);
            }
        });
        const QByteArray back = readExactly(client.fd(), sent.size());
        writer.join();
        return back;
    });
    QCOMPARE(sha256(echoed), sha256(sent));
}

void tst_Conditions::latencyCountsOncePerTransfer()
{
    // 10 MB at 1 MB/s with 100 ms: 10.1 s, the latency taken once.
    const QByteArray body = randomBytes(10'000'000, 3);
    ScriptedServer upstream([&](Socket &connection, int) {
        char request[16];
        if (::recv(connection.fd(), request, sizeof request, 0) > 0)
            sendAll(connection.fd(), body);
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port(), {QStringLiteral("down:bandwidth=1MB/s,latency=100ms")})));
    qint64 tookUs = 0;
    const QByteArray received = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        QTest::qSleep(20);
        const qint64 start = MonotonicClock::nowUs();
        sendAll(client.fd(), QByteArrayLiteral("get"));
        client.shutdownWrite();
        const QByteArray all = readUntilEof(client.fd());
        tookUs = MonotonicClock::nowUs() - start;
        return all;
    });
    qInfo("10 MB at 1 MB/s with 100 ms: %lld µs", tookUs);
    QCOMPARE(received.size(), body.size());
    QCOMPARE(sha256(received), sha256(body));
    QVERIFY2(qAbs(tookUs - 10'100'000) <= 300'000, qPrintable(QString::number(tookUs)));
}

void tst_Conditions::slicing()
{
    const QByteArray body = randomBytes(20'000, 5);
    ScriptedServer upstream([&](Socket &connection, int) { sendAll(connection.fd(), body); });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port(), {QStringLiteral("down:slice=100,slice-delay=2ms")})));
    qint64 largestRead = 0;
    int reads = 0;
    int bigReads = 0;
    qint64 tookUs = 0;
    const QByteArray received = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        QByteArray all;
        char buffer[64 * 1024];
        qint64 start = -1;
        while (all.size() < body.size()) {
            const ssize_t n = ::recv(client.fd(), buffer, sizeof buffer, 0);
            if (n <= 0)
                break;
            if (start < 0)
                start = MonotonicClock::nowUs();
            ++reads;
            bigReads += n > 100 ? 1 : 0;
            largestRead = qMax<qint64>(largestRead, n);
            all.append(buffer, n);
        }
        tookUs = MonotonicClock::nowUs() - start;
        return all;
    });
    qInfo("20,000 bytes in slices of 100, 2 ms apart: %lld µs, %d reads, %d of them over 100 bytes, largest %lld",
          tookUs, reads, bigReads, largestRead);
    QCOMPARE(sha256(received), sha256(body));
    // Each slice is its own write; two reach one read only when the client
    // woke a slice's pause late (a busy machine), which is rare.
    QVERIFY2(bigReads * 50 <= reads && largestRead <= 300, qPrintable(QString::number(largestRead)));
    // 200 slices, 199 pauses between them.
    QVERIFY2(tookUs >= 199 * 2000, qPrintable(QString::number(tookUs)));
}

void tst_Conditions::connectDelay()
{
    // The lab's client sends its request and FIN at once, while the
    // connect is held: the request waits, then goes, delayed as well.
    std::atomic<qint64> acceptedUs{0};
    ScriptedServer upstream([&](Socket &connection, int) {
        acceptedUs = MonotonicClock::nowUs();
        sendAll(connection.fd(), readUntilEof(connection.fd()));
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port(), {QStringLiteral("both:connect-delay=300ms,latency=20ms")})));
    qint64 connectedUs = 0;
    const QByteArray request = randomBytes(5000, 9);
    const QByteArray answer = offThread([&] {
        connectedUs = MonotonicClock::nowUs();
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), request);
        client.shutdownWrite();
        return readUntilEof(client.fd());
    });
    QCOMPARE(sha256(answer), sha256(request));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    const qint64 heldUs = acceptedUs.load() - connectedUs;
    qInfo("the upstream accepted %lld µs after the client connected", heldUs);
    QVERIFY2(heldUs >= 300'000 && heldUs < 400'000, qPrintable(QString::number(heldUs)));
    QVERIFY2(record.conditions.contains(QStringLiteral("connect +300ms")), qPrintable(record.conditions));
}

void tst_Conditions::slowDestinationHoldsTheSource()
{
    // A source writing as fast as it can into a connection throttled to
    // 100 KB/s: after the kernel's buffers fill (well within a second) its
    // sends wait for the throttle, and proxymon holds no more than its one
    // buffer per direction.
    FastSource source;
    ScriptedServer upstream(source.handler());
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port(), {QStringLiteral("down:bandwidth=100KB/s")})));
    qint64 sentAtOneSecond = 0;
    qint64 rssAtOneSecond = 0;
    qint64 received = 0;
    const qint64 rssBefore = residentBytes();
    offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        std::thread sampler([&] {
            QTest::qSleep(1000);
            sentAtOneSecond = source.sent.load();
            rssAtOneSecond = residentBytes();
        });
        received = readFor(client.fd(), 30'000'000);
        sampler.join();
        return 0;
    }, 90'000);
    const qint64 sentAtEnd = source.sent.load();
    const qint64 rssAfter = residentBytes();
    source.stop = true;
    qInfo("source sent %lld bytes by 1 s, %lld by 30 s; client received %lld; RSS %lld -> %lld -> %lld KiB",
          sentAtOneSecond, sentAtEnd, received, rssBefore / 1024, rssAtOneSecond / 1024, rssAfter / 1024);
    // After the first second, the source sent what the throttle let
    // through and what the kernel's autotuning of its own send buffer made
    // room for (up to tcp_wmem's most, 4 MiB on Debian), no more.
    QVERIFY2(sentAtEnd - sentAtOneSecond <= 29 * 100'000 + kernelSendBufferMost() + 1024 * 1024,
             qPrintable(QString::number(sentAtEnd - sentAtOneSecond)));
    QVERIFY2(qAbs(received - 3'000'000) <= 150'000, qPrintable(QString::number(received)));
    QVERIFY2(rssAfter - rssBefore < 4 * 1024 * 1024, qPrintable(QString::number(rssAfter - rssBefore)));
}

void tst_Conditions::probabilityZeroNeverApplies()
{
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(echo.port(), {QStringLiteral("both:latency=1s,probability=0")})));
    const int worst = offThread([&] {
        qint64 worstUs = 0;
        for (int i = 0; i < 200; ++i) {
            Socket client = connectTo("127.0.0.1", proxy.port());
            const qint64 start = MonotonicClock::nowUs();
            sendAll(client.fd(), QByteArrayLiteral("x"));
            if (readExactly(client.fd(), 1) != "x")
                return -1;
            worstUs = qMax(worstUs, MonotonicClock::nowUs() - start);
        }
        return int(worstUs);
    });
    QVERIFY(worst >= 0);
    QVERIFY2(worst < 500'000, qPrintable(QString::number(worst)));
    QVERIFY(proxy.records.waitForClosed(200));
    for (const ConnectionRecord &record : proxy.records.closed())
        QVERIFY2(record.conditions.isEmpty(), qPrintable(record.conditions));
}

void tst_Conditions::thousandDelayedConnections()
{
    // 1,000 connections, each with 50 ms of latency and 10 KB/s down; each
    // asks once (staggered over two seconds) and the echo comes back
    // through the conditions. The delay each sees, less 50 ms, is the
    // error of one heap of timers serving them all.
    constexpr int Count = 1000;
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(echo.port(), {QStringLiteral("down:latency=50ms,bandwidth=10KB/s")})));
    std::vector<qint64> errors = offThread([&] {
        std::vector<Socket> clients;
        for (int i = 0; i < Count; ++i)
            clients.push_back(connectTo("127.0.0.1", proxy.port()));
        const int epoll = epoll_create1(EPOLL_CLOEXEC);
        for (int i = 0; i < Count; ++i) {
            epoll_event event{};
            event.events = EPOLLIN;
            event.data.u32 = quint32(i);
            epoll_ctl(epoll, EPOLL_CTL_ADD, clients[size_t(i)].fd(), &event);
        }
        QTest::qSleep(200); // every connection relaying
        std::vector<qint64> sentUs(Count, -1);
        std::vector<qint64> delays;
        const QByteArray ask(100, 'a');
        const qint64 startUs = MonotonicClock::nowUs();
        int next = 0;
        epoll_event events[64];
        while (int(delays.size()) < Count && MonotonicClock::nowUs() - startUs < 20'000'000) {
            // One ask every 2 ms.
            while (next < Count && MonotonicClock::nowUs() >= startUs + next * 2000) {
                sentUs[size_t(next)] = MonotonicClock::nowUs();
                sendAll(clients[size_t(next)].fd(), ask);
                ++next;
            }
            const int ready = epoll_wait(epoll, events, 64, 1);
            const qint64 now = MonotonicClock::nowUs();
            for (int e = 0; e < ready; ++e) {
                const int i = int(events[e].data.u32);
                char buffer[256];
                const ssize_t n = ::recv(clients[size_t(i)].fd(), buffer, sizeof buffer, MSG_DONTWAIT);
                if (n > 0) {
                    delays.push_back(now - sentUs[size_t(i)] - 50'000);
                    epoll_ctl(epoll, EPOLL_CTL_DEL, clients[size_t(i)].fd(), nullptr);
                }
            }
        }
        ::close(epoll);
        return delays;
    }, 60'000);
    QCOMPARE(int(errors.size()), Count);
    std::sort(errors.begin(), errors.end());
    const qint64 p50 = errors[errors.size() / 2];
    const qint64 p99 = errors[errors.size() * 99 / 100];
    qInfo("1,000 connections at 50 ms and 10 KB/s: delay error median %lld µs, 99th percentile %lld µs, least %lld µs",
          p50, p99, errors.front());
    QVERIFY2(errors.front() >= -1000, qPrintable(QString::number(errors.front()))); // never early
    QVERIFY2(p99 < 5000, qPrintable(QString::number(p99)));
}


// The requests an HTTP proxy rewrites for their upstream go through the
// connection's up direction like a relay's bytes: its latency and its
// bandwidth apply to them.
void tst_Conditions::httpProxyRequestsTakeTheUpConditions()
{
    auto arrivalUs = [](const QStringList &conditions) {
        RunningProxy proxy;
        if (!proxy.start(ruledHttpProxy(conditions)))
            return qint64(-1);
        std::vector<qint64> times;
        for (int i = 0; i < 9; ++i) {
            DigestOrigin origin;
            const auto [us, answer] = timedRequest(proxy.port(), origin, origin.post("ping"));
            if (!answer.endsWith(sha256("ping").toHex()))
                return qint64(-1);
            times.push_back(us);
        }
        return median(times);
    };
    const qint64 plain = arrivalUs({});
    const qint64 delayed = arrivalUs({QStringLiteral("up:latency=150ms")});
    qInfo("a request reached its origin after %lld µs plain, %lld µs with 150 ms up", plain, delayed);
    QVERIFY(plain >= 0 && delayed >= 0);
    QVERIFY2(qAbs(delayed - plain - 150'000) <= 15'000, qPrintable(QString::number(delayed - plain)));

    // An upload of 600,000 bytes at 200,000 B/s takes three seconds, and
    // arrives whole; with 200 ms of latency, 200 ms more (once, not per
    // buffer), whether the client's FIN comes at once or not at all.
    const QByteArray body = randomBytes(600'000, 31);
    for (const bool finAfter : {false, true}) {
        DigestOrigin origin;
        RunningProxy proxy;
        QVERIFY(proxy.start(ruledHttpProxy({QStringLiteral("up:bandwidth=200000B/s,latency=200ms")})));
        const auto [us, answer] = timedRequest(proxy.port(), origin, origin.post(body), finAfter);
        qInfo("600,000 bytes uploaded at 200,000 B/s with 200 ms in %lld µs%s", us, finAfter ? ", FIN at once" : "");
        QVERIFY2(answer.endsWith(sha256(body).toHex()), answer.left(200).constData());
        QVERIFY2(qAbs(us - 3'200'000) <= 150'000, qPrintable(QString::number(us)));
    }

    // The lab's client through the proxy: its request, then 300 ms later
    // its FIN, which reaches the origin 150 ms after it was sent (its own
    // latency, not the request's).
    std::atomic<qint64> endAtUs{-1};
    ScriptedServer labServer([&](Socket &connection, int) {
        readUntilEof(connection.fd());
        endAtUs = MonotonicClock::nowUs();
        sendAll(connection.fd(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    RunningProxy finProxy;
    QVERIFY(finProxy.start(ruledHttpProxy({QStringLiteral("up:latency=150ms")})));
    const QByteArray authority = "127.0.0.1:" + QByteArray::number(labServer.port());
    const auto [finUs, labAnswer] = offThread([&] {
        Socket client = connectTo("127.0.0.1", finProxy.port());
        sendAll(client.fd(), "GET http://" + authority + "/ HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
        QTest::qSleep(300);
        const qint64 finSentUs = MonotonicClock::nowUs();
        client.shutdownWrite();
        const QByteArray back = readUntilEof(client.fd());
        return std::make_pair(endAtUs.load() - finSentUs, back);
    });
    qInfo("the client's FIN reached the origin %lld µs after it was sent, with 150 ms up", finUs);
    QVERIFY2(labAnswer.endsWith("\r\n\r\nok"), labAnswer.constData());
    QVERIFY2(finUs >= 145'000 && finUs < 400'000, qPrintable(QString::number(finUs)));
}

// A black hole on up swallows the rewritten requests too (the origin is
// reached, and gets nothing), and keeps the client's FIN.
void tst_Conditions::httpProxyRequestsFallIntoABlackHole()
{
    DigestOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledHttpProxy({}, {QStringLiteral("blackhole:dir=up")})));
    const QByteArray answer = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), origin.post("lost"));
        client.shutdownWrite();
        // Nothing comes back: the client gives up after half a second.
        setTimeouts(client.fd(), 500);
        return readUntilEof(client.fd());
    });
    QCOMPARE(answer, QByteArray());
    QCOMPARE(origin.bytes(), qint64(0));
    // The client's FIN is kept from the upstream too, so the connection
    // waits (as a relay's does) until the half-close timeout.
    const ConnectionRecord record = proxy.records.latest(1);
    QVERIFY2(record.conditions.contains(QStringLiteral("up black hole")), qPrintable(record.conditions));
    QCOMPARE(record.bytesUp, quint64(0));
    QCOMPARE(record.state, ConnectionRecord::State::ClientHalfClosed);
}

QTEST_GUILESS_MAIN(tst_Conditions)
#include "tst_conditions.moc"
