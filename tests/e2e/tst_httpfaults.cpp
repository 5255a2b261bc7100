// HTTP faults on real loopback exchanges: an answer in place of the
// upstream's, a delayed response head, a cut body, no response; each
// matched by method, host, path or header, and counted (first, every),
// through forwarding and through the HTTP proxy. The upstream is a small
// keep-alive HTTP server that says which requests it saw.

#include "faultaction.h"
#include "faultrule.h"
#include "loopback.h"
#include "runningproxy.h"
#include "ruledconfig.h"

#include <QDir>
#include <QElapsedTimer>
#include <QTest>

#include <mutex>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace Loopback;

namespace {

// Answers each request on a connection in turn: /size/N with N bytes of
// body (the same N bytes each time: randomBytes(N, 7)), anything else with
// "hello <path>". A request that says Connection: close is the last.
class HttpOrigin
{
public:
    HttpOrigin()
        : m_server([this](Socket &connection, int) { serve(connection); })
    {
    }

    quint16 port() const { return m_server.port(); }
    QStringList seen() const
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_seen;
    }

private:
    void serve(Socket &connection)
    {
        QByteArray buffer;
        char chunk[16384];
        while (true) {
            qsizetype end;
            while ((end = buffer.indexOf("\r\n\r\n")) < 0) {
                const ssize_t n = ::recv(connection.fd(), chunk, sizeof chunk, 0);
                if (n <= 0)
                    return;
                buffer.append(chunk, n);
            }
            const QByteArray head = buffer.left(end);
            buffer.remove(0, end + 4);
            const QList<QByteArray> lines = head.split('\n');
            const QList<QByteArray> start = lines.first().trimmed().split(' ');
            qsizetype length = 0;
            bool last = false;
            for (const QByteArray &line : lines) {
                const QByteArray lower = line.trimmed().toLower();
                if (lower.startsWith("content-length:"))
                    length = lower.mid(15).trimmed().toLongLong();
                if (lower == "connection: close")
                    last = true;
            }
            while (buffer.size() < length) {
                const ssize_t n = ::recv(connection.fd(), chunk, sizeof chunk, 0);
                if (n <= 0)
                    return;
                buffer.append(chunk, n);
            }
            buffer.remove(0, length);
            const QByteArray path = start.value(1);
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                m_seen.append(QString::fromLatin1(start.value(0) + ' ' + path));
            }
            const QByteArray body = path.startsWith("/size/") ? randomBytes(path.mid(6).toLongLong(), 7) : "hello " + path;
            const QByteArray response = "HTTP/1.1 200 OK\r\nContent-Length: " + QByteArray::number(body.size())
                + (last ? "\r\nConnection: close" : "") + "\r\n\r\n" + body;
            if (!sendAll(connection.fd(), response) || last)
                return;
        }
    }

    mutable std::mutex m_mutex;
    QStringList m_seen;
    ScriptedServer m_server; // last: its handlers use the members above
};

QByteArray get(const QByteArray &path, bool close = true, const QByteArray &extra = QByteArray())
{
    return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + (close ? "Connection: close\r\n" : "") + "\r\n";
}

// The status codes of the responses in a stream of them, in order.
QList<int> statuses(const QByteArray &stream)
{
    QList<int> found;
    qsizetype at = 0;
    while ((at = stream.indexOf("HTTP/1.1 ", at)) >= 0) {
        found.append(stream.mid(at + 9, 3).toInt());
        at += 9;
    }
    return found;
}

QByteArray bodyOf(const QByteArray &response)
{
    const qsizetype end = response.indexOf("\r\n\r\n");
    return end < 0 ? QByteArray() : response.mid(end + 4);
}

// The pipes this process holds open: a worker keeps the ones it spliced
// through for its next bulk transfer.
int pipeDescriptors()
{
    int pipes = 0;
    const QStringList entries = QDir(QStringLiteral("/proc/self/fd")).entryList(QDir::System | QDir::NoDotAndDotDot);
    for (const QString &entry : entries) {
        char target[64] = {};
        const QByteArray path = "/proc/self/fd/" + entry.toLatin1();
        if (::readlink(path.constData(), target, sizeof target - 1) > 0 && qstrncmp(target, "pipe:", 5) == 0)
            ++pipes;
    }
    return pipes;
}

const TimelineMark *faultMark(const ConnectionRecord &record)
{
    return record.timeline.find(TimelineMark::Kind::Fault, TimelineMark::Lane::Connection);
}

} // namespace

class tst_HttpFaults : public QObject
{
    Q_OBJECT

private slots:
    void statusAnswersInsteadOfTheUpstream();
    void statusWaitsForEarlierResponses();
    void matchesMethodHostAndHeader();
    void firstAndEveryCount();
    void delayHeadHoldsTheResponse();
    void cutBodyThenClose();
    void cutBodyThenReset();
    void cutBodyLongerThanTheBodyCutsNothing();
    void noResponseKeepsTheConnectionOpen();
    void headSplitAcrossWritesIsDecidedWhole();
    void aLimitByHandLeavesTheGateItsOwnHold();
    void httpProxyAnswersAndDelays();
    void httpProxyAnswerWaitsForADelayedResponse();
    void notHttpPassesUntouched();
    void notHttpGoesBackToSplicing();
};

void tst_HttpFaults::statusAnswersInsteadOfTheUpstream()
{
    HttpOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(origin.port(), {}, {QStringLiteral("status:code=503,path=^/api/")})));
    const QByteArray answered = proxy.ask(get("/api/orders"));
    QVERIFY2(answered.startsWith("HTTP/1.1 503 Service Unavailable\r\n"), answered.constData());
    QVERIFY(answered.contains("Connection: close\r\n"));
    QVERIFY(bodyOf(answered).contains("answer 503 to GET /api/orders (by fault rule 1)"));
    const QByteArray passed = proxy.ask(get("/apiary"));
    QCOMPARE(statuses(passed), QList<int>{200});
    QCOMPARE(bodyOf(passed), QByteArray("hello /apiary"));
    // The upstream never saw the answered request.
    QCOMPARE(origin.seen(), QStringList{QStringLiteral("GET /apiary")});
    QVERIFY(proxy.records.waitForClosed(2));
    const ConnectionRecord first = proxy.records.latest(1);
    QCOMPARE(first.closeReason, ConnectionRecord::CloseReason::Fault);
    QVERIFY(faultMark(first));
    QVERIFY2(faultMark(first)->note.contains(QStringLiteral("answer 503 to GET /api/orders")),
             qPrintable(faultMark(first)->note));
    QVERIFY(!faultMark(proxy.records.latest(2)));
}

void tst_HttpFaults::statusWaitsForEarlierResponses()
{
    // Keep-alive and pipelined: the upstream's answer to the first request
    // comes whole, then proxymon's to the second, then the end.
    HttpOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(origin.port(), {}, {QStringLiteral("status:code=429,path=^/limited")})));
    const QByteArray stream = proxy.ask(get("/size/50000", false) + get("/limited"));
    QCOMPARE(statuses(stream.left(200)), QList<int>{200});
    const qsizetype second = stream.indexOf("HTTP/1.1 429 ");
    QVERIFY(second > 0);
    QCOMPARE(sha256(bodyOf(stream.left(second))), sha256(randomBytes(50000, 7)));
    QCOMPARE(origin.seen(), QStringList{QStringLiteral("GET /size/50000")});
}

void tst_HttpFaults::matchesMethodHostAndHeader()
{
    HttpOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(origin.port(), {}, {QStringLiteral("status:code=418,method=DELETE"),
                                                        QStringLiteral("status:code=451,header=X-Test:^yes$"),
                                                        QStringLiteral("status:code=410,host=*.gone.test")})));
    const quint16 port = proxy.port();
    QCOMPARE(statuses(askOnce(port, "DELETE /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")), QList<int>{418});
    QCOMPARE(statuses(askOnce(port, get("/x", true, "X-Test: yes\r\n"))), QList<int>{451});
    QCOMPARE(statuses(askOnce(port, get("/x", true, "X-Test: yesterday\r\n"))), QList<int>{200});
    QCOMPARE(statuses(askOnce(port, "GET /y HTTP/1.1\r\nHost: www.gone.test:8080\r\nConnection: close\r\n\r\n")),
             QList<int>{410});
    QCOMPARE(statuses(askOnce(port, "GET /y HTTP/1.1\r\nHost: notgone.test\r\nConnection: close\r\n\r\n")),
             QList<int>{200});
    QCOMPARE(origin.seen(), (QStringList{QStringLiteral("GET /x"), QStringLiteral("GET /y")}));
}

void tst_HttpFaults::firstAndEveryCount()
{
    HttpOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(origin.port(), {}, {QStringLiteral("status:code=500,path=^/a,first=2"),
                                                        QStringLiteral("status:code=502,path=^/b,every=3")})));
    QList<int> a;
    QList<int> b;
    for (int i = 0; i < 4; ++i)
        a += statuses(proxy.ask(get("/a")));
    for (int i = 0; i < 6; ++i)
        b += statuses(proxy.ask(get("/b")));
    QCOMPARE(a, (QList<int>{500, 500, 200, 200}));
    QCOMPARE(b, (QList<int>{200, 200, 502, 200, 200, 502}));
}

void tst_HttpFaults::delayHeadHoldsTheResponse()
{
    HttpOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(origin.port(), {}, {QStringLiteral("delay-head:delay=400ms,path=^/slow")})));
    // One keep-alive connection: the slow response waits, the next one
    // on the same connection does not.
    qint64 slowMs = -1;
    qint64 fastMs = -1;
    QByteArray slowBody;
    QByteArray fastBody;
    offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        QElapsedTimer clock;
        clock.start();
        sendAll(client.fd(), get("/slow", false));
        const QByteArray slow = readExactly(client.fd(), 39 + 11);
        slowMs = clock.elapsed();
        clock.restart();
        sendAll(client.fd(), get("/fast"));
        const QByteArray fast = readUntilEof(client.fd());
        fastMs = clock.elapsed();
        slowBody = bodyOf(slow);
        fastBody = bodyOf(fast);
    });
    qInfo("slow response after %lld ms, the next on the connection after %lld ms", slowMs, fastMs);
    QCOMPARE(slowBody, QByteArray("hello /slow"));
    QCOMPARE(fastBody, QByteArray("hello /fast"));
    QVERIFY2(slowMs >= 400, qPrintable(QString::number(slowMs)));
    QVERIFY2(fastMs < 400, qPrintable(QString::number(fastMs)));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QVERIFY(faultMark(record));
    QVERIFY2(faultMark(record)->note.contains(QStringLiteral("delay the response head by 400ms to GET /slow")),
             qPrintable(faultMark(record)->note));
    QCOMPARE(record.closeReason, ConnectionRecord::CloseReason::UpstreamFin);
}

void tst_HttpFaults::cutBodyThenClose()
{
    HttpOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(origin.port(), {}, {QStringLiteral("cut-body:bytes=1000,path=^/size/")})));
    int error = -1;
    const QByteArray got = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), get("/size/100000"));
        return readUntilEof(client.fd(), &error);
    });
    QCOMPARE(error, 0); // a FIN, not a reset
    QVERIFY(got.startsWith("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n"));
    QCOMPARE(sha256(bodyOf(got)), sha256(randomBytes(100000, 7).left(1000)));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, ConnectionRecord::CloseReason::Fault);
    QVERIFY2(record.error.contains(QStringLiteral("cut the response body after 1KB, then close to GET /size/100000")),
             qPrintable(record.error));
}

void tst_HttpFaults::cutBodyThenReset()
{
    HttpOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(origin.port(), {}, {QStringLiteral("cut-body:bytes=10,then=reset")})));
    int error = -1;
    const QByteArray got = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), get("/size/200000"));
        return readUntilEof(client.fd(), &error);
    });
    QCOMPARE(error, ECONNRESET);
    QVERIFY(bodyOf(got).size() <= 10);
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QVERIFY(record.timeline.find(TimelineMark::Kind::ResetSent, TimelineMark::Lane::Client));
}

void tst_HttpFaults::cutBodyLongerThanTheBodyCutsNothing()
{
    // Each response of a keep-alive connection is cut on its own: a body
    // shorter than the cut passes whole, and so does the next response.
    HttpOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(origin.port(), {}, {QStringLiteral("cut-body:bytes=100,path=^/size/")})));
    const QByteArray stream = proxy.ask(get("/size/60", false) + get("/other"));
    QCOMPARE(statuses(stream), (QList<int>{200, 200}));
    QVERIFY(stream.endsWith("hello /other"));
}

void tst_HttpFaults::noResponseKeepsTheConnectionOpen()
{
    HttpOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(origin.port(), {}, {QStringLiteral("no-response:method=POST")})));
    int polled = -1;
    QByteArray early;
    offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
        pollfd wait{client.fd(), POLLIN, 0};
        polled = ::poll(&wait, 1, 700); // 0: nothing came, not even an EOF
        if (polled > 0) {
            char buffer[256];
            const ssize_t n = ::recv(client.fd(), buffer, sizeof buffer, 0);
            early = n > 0 ? QByteArray(buffer, n) : QByteArray("(EOF)");
        }
    });
    QVERIFY2(polled == 0, early.constData());
    // The request reached the upstream, and its answer went nowhere; the
    // connection stays open (a silent proxy.server's, for the idle timeout).
    QCOMPARE(origin.seen(), QStringList{QStringLiteral("POST /submit")});
    QTRY_VERIFY(faultMark(proxy.records.latest(1)));
    const ConnectionRecord record = proxy.records.latest(1);
    QVERIFY2(faultMark(record)->note.contains(QStringLiteral("send no response to POST /submit")),
             qPrintable(faultMark(record)->note));
    QCOMPARE(record.bytesDown, quint64(0));
    // A GET on another connection is answered.
    QCOMPARE(statuses(proxy.ask(get("/x"))), QList<int>{200});
}

void tst_HttpFaults::headSplitAcrossWritesIsDecidedWhole()
{
    // The head's first bytes wait for the rest: the upstream never gets a
    // part of a request that is then answered by proxymon.
    HttpOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(origin.port(), {}, {QStringLiteral("status:code=503,header=X-Fail")})));
    const QByteArray got = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), "GET /split HTTP/1.1\r\nHo");
        QThread::msleep(150);
        sendAll(client.fd(), "st: a\r\nX-Fail: 1\r\n\r\n");
        return readUntilEof(client.fd());
    });
    QCOMPARE(statuses(got), QList<int>{503});
    QVERIFY(origin.seen().isEmpty());
    QCOMPARE(statuses(proxy.ask(get("/whole"))), QList<int>{200});
    QCOMPARE(origin.seen(), QStringList{QStringLiteral("GET /whole")});
}

void tst_HttpFaults::aLimitByHandLeavesTheGateItsOwnHold()
{
    // The gate's stop at a request head and a fault's limit set by hand
    // are each their own: the flow stops at the lower, and the limit does
    // not keep the gate from holding back (then answering) a request.
    HttpOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(origin.port(), {}, {QStringLiteral("status:code=503,path=^/api/")})));
    Socket client = connectTo("127.0.0.1", proxy.port());
    QTRY_VERIFY(proxy.records.latest(1).state == ConnectionRecord::State::Open
                && !proxy.records.latest(1).upstreamAddress.isEmpty());
    FaultAction limit;
    limit.kind = FaultAction::Kind::Limit;
    limit.target = FaultAction::Target::Upstream;
    limit.bytes = 1'000'000;
    limit.then = FaultAction::Kind::Close;
    proxy.server.act(1, limit, QStringLiteral("by the test"));
    QTRY_VERIFY2(proxy.records.latest(1).conditions.contains(QStringLiteral("up at ")),
                 qPrintable(proxy.records.latest(1).conditions));
    const QByteArray got = offThread([&] {
        sendAll(client.fd(), get("/first", false) + get("/api/orders"));
        return readUntilEof(client.fd());
    });
    QCOMPARE(statuses(got), (QList<int>{200, 503}));
    QCOMPARE(origin.seen(), QStringList{QStringLiteral("GET /first")});
    QCOMPARE(proxy.records.waitForOnlyClosed().closeReason, ConnectionRecord::CloseReason::Fault);
}

void tst_HttpFaults::httpProxyAnswersAndDelays()
{
    HttpOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledHttpProxy({}, {QStringLiteral("status:code=503,path=^/down"),
                                            QStringLiteral("delay-head:delay=300ms,path=^/slow")})));
    const QByteArray base = "http://127.0.0.1:" + QByteArray::number(origin.port());
    const QByteArray answered = proxy.ask(
                                        "GET " + base + "/down HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    QCOMPARE(statuses(answered), QList<int>{503});
    QVERIFY(bodyOf(answered).contains("answer 503 to GET " + base + "/down"));
    QElapsedTimer clock;
    clock.start();
    const QByteArray slow = proxy.ask(
                                    "GET " + base + "/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const qint64 slowMs = clock.elapsed();
    QCOMPARE(bodyOf(slow), QByteArray("hello /slow"));
    QVERIFY2(slowMs >= 300, qPrintable(QString::number(slowMs)));
    QCOMPARE(origin.seen(), QStringList{QStringLiteral("GET /slow")});
}

void tst_HttpFaults::httpProxyAnswerWaitsForADelayedResponse()
{
    // Pipelined to the proxy: the first response is held, the second
    // request is answered by a rule. The answer comes after the held
    // response, once it has gone, then the connection closes.
    HttpOrigin origin;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledHttpProxy({}, {QStringLiteral("delay-head:delay=300ms,path=^/slow"),
                                            QStringLiteral("status:code=503,path=^/down")})));
    const QByteArray base = "http://127.0.0.1:" + QByteArray::number(origin.port());
    QElapsedTimer clock;
    clock.start();
    const QByteArray stream = proxy.ask("GET " + base + "/slow HTTP/1.1\r\nHost: x\r\n\r\n"
                                                               "GET " + base + "/down HTTP/1.1\r\nHost: x\r\n\r\n");
    const qint64 elapsedMs = clock.elapsed();
    QCOMPARE(statuses(stream), (QList<int>{200, 503}));
    QVERIFY(stream.contains("hello /slow"));
    QVERIFY2(elapsedMs >= 300 && elapsedMs < 5'000, qPrintable(QString::number(elapsedMs)));
    QCOMPARE(origin.seen(), QStringList{QStringLiteral("GET /slow")});

    // The same when forwarding.
    HttpOrigin direct;
    RunningProxy forwarding;
    QVERIFY(forwarding.start(ruledConfig(direct.port(), {}, {QStringLiteral("delay-head:delay=300ms,path=^/slow"),
                                                             QStringLiteral("status:code=503,path=^/down")})));
    clock.restart();
    const QByteArray forwarded = forwarding.ask(get("/slow", false) + get("/down", false));
    QCOMPARE(statuses(forwarded), (QList<int>{200, 503}));
    QVERIFY(clock.elapsed() >= 300);
    QCOMPARE(direct.seen(), QStringList{QStringLiteral("GET /slow")});
}

void tst_HttpFaults::notHttpPassesUntouched()
{
    // Bytes that are not HTTP pass as they came, both ways, by digest.
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(echo.port(), {}, {QStringLiteral("status:code=503")})));
    const QByteArray sent = randomBytes(1'000'000, 3);
    const QByteArray back = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        std::thread writer([&] {
            sendAll(client.fd(), sent);
            client.shutdownWrite();
        });
        QByteArray got = readUntilEof(client.fd());
        writer.join();
        return got;
    });
    QCOMPARE(sha256(back), sha256(sent));
}


// Under HTTP fault rules, a connection that turns out not to carry HTTP is
// relayed as it would be without them: its bulk transfer goes through the
// kernel's pipes (splice), not through proxymon's buffers.
void tst_HttpFaults::notHttpGoesBackToSplicing()
{
    const QByteArray payload = randomBytes(16 * 1024 * 1024, 12);
    const QByteArray greeting("\x16\x03\x01 not HTTP");
    const QByteArray question("\x16\x03\x01 not a request either");
    ScriptedServer upstream([&](Socket &connection, int) {
        // Read first: closing with them unread would reset the connection.
        if (readExactly(connection.fd(), question.size()) == question)
            sendAll(connection.fd(), greeting + payload);
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port(), {}, {QStringLiteral("status:code=503")})));
    const int pipesBefore = pipeDescriptors();
    const QByteArray received = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), question);
        // Reading late fills the proxy's socket, so its reads come back
        // full: a bulk transfer.
        QTest::qSleep(300);
        return readExactly(client.fd(), greeting.size() + payload.size());
    });
    QCOMPARE(received.left(greeting.size()), greeting);
    QCOMPARE(sha256(received.mid(greeting.size())), sha256(payload));
    qInfo("pipes held: %d before, %d after", pipesBefore, pipeDescriptors());
    QVERIFY2(pipeDescriptors() >= pipesBefore + 2, qPrintable(QString::number(pipeDescriptors() - pipesBefore)));
}

QTEST_GUILESS_MAIN(tst_HttpFaults)
#include "tst_httpfaults.moc"
