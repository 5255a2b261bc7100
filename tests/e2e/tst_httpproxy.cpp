// proxymon as a forward HTTP proxy, end to end: real clients (and curl)
// on loopback, origin servers on loopback, the proxy in this thread's event
// loop as in the app.

#include "loopback.h"
#include "runningproxy.h"

#include <QProcess>
#include <QStandardPaths>
#include <QThread>
#include <QTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <thread>

using namespace Loopback;
using Reason = ConnectionRecord::CloseReason;

namespace {

// The size of the origin's "/big" answer and of the test's upload.
constexpr qsizetype BigBytes = 48 * 1024 * 1024;

QByteArray bodyOf(const QByteArray &message)
{
    return message.mid(message.indexOf("\r\n\r\n") + 4);
}

// An origin server: answers every request on a connection with its name,
// the connection's index and the request line, and keeps every request
// head it got. HTTP/1.0 requests get their connection closed after.
class Origin
{
public:
    explicit Origin(QByteArray name, const char *address = "127.0.0.1")
        : m_name(std::move(name))
        , m_host(QByteArray(address).contains(':') ? '[' + QByteArray(address) + ']' : QByteArray(address))
        , m_server([this](Socket &connection, int index) { serve(connection, index); }, address)
    {
    }

    quint16 port() const { return m_server.port(); }
    int connections() const { return m_server.accepted(); }
    QList<QByteArray> requests() const
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_requests;
    }
    QByteArray url(const char *path) const
    {
        return "http://" + m_host + ':' + QByteArray::number(port()) + path;
    }

private:
    void serve(Socket &connection, int index)
    {
        QByteArray pending;
        for (;;) {
            const QByteArray request = readHttpMessage(connection.fd(), &pending);
            if (request.isEmpty())
                return;
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                m_requests.append(request);
            }
            const QByteArray line = request.left(request.indexOf('\r'));
            const QByteArray body = m_name + ' ' + QByteArray::number(index) + ' ' + line;
            const bool close = line.endsWith("HTTP/1.0");
            if (line.contains(" /big ")) {
                const QByteArray big = randomBytes(BigBytes, 21);
                sendAll(connection.fd(), "HTTP/1.1 200 OK\r\nContent-Length: " + QByteArray::number(big.size())
                                             + "\r\n\r\n" + big);
                continue;
            }
            // "/slow" answers late; "/drop" closes soon after answering
            // without having said so, as a server's idle timeout does.
            if (line.contains(" /slow "))
                QThread::msleep(300);
            sendAll(connection.fd(), "HTTP/1.1 200 OK\r\nContent-Length: " + QByteArray::number(body.size())
                                         + (close ? "\r\nConnection: close" : "") + "\r\n\r\n" + body);
            if (line.contains(" /drop "))
                QThread::msleep(100);
            if (close || line.contains(" /drop "))
                return;
        }
    }

    const QByteArray m_name;
    const QByteArray m_host; // as written in a URL
    mutable std::mutex m_mutex;
    QList<QByteArray> m_requests;
    ScriptedServer m_server;
};

ProxyConfig proxyConfig()
{
    ProxyConfig config;
    config.listenAddress = QHostAddress(QHostAddress::LocalHost);
    config.mode = ProxyConfig::Mode::HttpProxy;
    config.stopGraceMs = 100;
    return config;
}

} // namespace

class tst_HttpProxy : public QObject
{
    Q_OBJECT

private slots:
    void twoOriginsOverOneConnection();
    void closedIdleUpstreamIsNotReused();
    void hopByHopHeadersRemoved();
    void ipv6Origin();
    void largeBodiesBothWays();
    void labClientHalfCloses();
    void errorsAnswerLikeAProxy_data();
    void errorsAnswerLikeAProxy();
    void connectTimeoutAnswers504();
    void headOverCapAnswers431();
    void brokenChunkedBodyAnswers400();
    void loopIsRefused();
    void viaOnRequest();
    void errorKeptWhenClientResets();
    void allowListRefusesOthers();
    void openProxyNeedsAllowList();
    void connectTunnelBothWays();
    void earlyTunnelBytesAndHalfClose();
    void resetThroughTunnel();
    void curlThroughProxy();
};

void tst_HttpProxy::twoOriginsOverOneConnection()
{
    // One keep-alive client: A, B pipelined in one write, then A twice.
    // Each goes to its own origin, answers come back in order, and A's
    // upstream connection, kept while B answered, serves all of A's.
    Origin a("A"), b("B");
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));

    const QList<QByteArray> answers = offThread([&] {
        QList<QByteArray> got;
        Socket client = connectTo("127.0.0.1", proxy.port());
        QByteArray pending;
        sendAll(client.fd(), "GET " + a.url("/one") + " HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET " + b.url("/two") + " HTTP/1.1\r\nHost: x\r\n\r\n");
        got.append(readHttpMessage(client.fd(), &pending));
        got.append(readHttpMessage(client.fd(), &pending));
        for (const char *path : {"/three", "/four"}) {
            sendAll(client.fd(), "GET " + a.url(path) + " HTTP/1.1\r\nHost: x\r\n\r\n");
            got.append(readHttpMessage(client.fd(), &pending));
        }
        client.shutdownWrite();
        readUntilEof(client.fd());
        return got;
    });
    QCOMPARE(answers.size(), 4);
    QCOMPARE(bodyOf(answers[0]), QByteArray("A 0 GET /one HTTP/1.1"));
    QCOMPARE(bodyOf(answers[1]), QByteArray("B 0 GET /two HTTP/1.1"));
    QCOMPARE(bodyOf(answers[2]), QByteArray("A 0 GET /three HTTP/1.1"));
    QCOMPARE(bodyOf(answers[3]), QByteArray("A 0 GET /four HTTP/1.1"));
    QCOMPARE(a.connections(), 1);
    QCOMPARE(b.connections(), 1);

    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::ClientFin);
    QCOMPARE(record.requests, quint32(4));
    QCOMPARE(record.upstream, QStringLiteral("127.0.0.1:%1").arg(a.port()));
    // Its life says so: two connects, then A's kept connection taken up.
    QStringList upstreamMarks;
    for (const TimelineMark &mark : record.timeline.marks) {
        if (mark.lane == TimelineMark::Lane::Upstream
            && (mark.kind == TimelineMark::Kind::Connected || mark.kind == TimelineMark::Kind::Reused))
            upstreamMarks.append(TimelineMark::kindName(mark.kind) + QLatin1Char(' ') + mark.note);
    }
    const QString addressA = QStringLiteral("127.0.0.1:%1").arg(a.port());
    const QString addressB = QStringLiteral("127.0.0.1:%1").arg(b.port());
    QCOMPARE(upstreamMarks, (QStringList{"connected " + addressA, "connected " + addressB, "reused " + addressA}));
    QVERIFY(proxy.records.waitForExchanges(4));
    const QList<HttpExchange> exchanges = proxy.records.exchanges();
    QCOMPARE(exchanges[1].request.target(), QByteArrayView(b.url("/two")));
    QCOMPARE(exchanges[1].response.status, 200);
    QCOMPARE(exchanges[1].responseBody, QByteArray("B 0 GET /two HTTP/1.1"));
}

void tst_HttpProxy::closedIdleUpstreamIsNotReused()
{
    // A's connection is kept while B answers, and A closes it meanwhile:
    // the next request to A goes over a new connection, not into the void.
    Origin a("A"), b("B");
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QList<QByteArray> answers = offThread([&] {
        QList<QByteArray> got;
        Socket client = connectTo("127.0.0.1", proxy.port());
        QByteArray pending;
        for (const QByteArray &url : {a.url("/drop"), b.url("/slow"), a.url("/after")}) {
            sendAll(client.fd(), "GET " + url + " HTTP/1.1\r\n\r\n");
            got.append(readHttpMessage(client.fd(), &pending));
        }
        return got;
    });
    QCOMPARE(answers.size(), 3);
    QCOMPARE(bodyOf(answers[1]), QByteArray("B 0 GET /slow HTTP/1.1"));
    QCOMPARE(bodyOf(answers[2]), QByteArray("A 1 GET /after HTTP/1.1"));
}

void tst_HttpProxy::hopByHopHeadersRemoved()
{
    Origin origin("O");
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QByteArray request = "POST " + origin.url("/form?x=1") + " HTTP/1.1\r\n"
        "Host: somewhere.else\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic dTpw\r\n"
        "Connection: close, X-Hop\r\nX-Hop: private\r\nKeep-Alive: 300\r\nX-End: kept\r\n"
        "Content-Length: 5\r\n\r\nhello";
    const QByteArray reply = proxy.ask(request);
    QVERIFY2(reply.startsWith("HTTP/1.1 200 OK\r\n"), reply.constData());

    QCOMPARE(origin.requests().size(), 1);
    const QByteArray got = origin.requests().first();
    QVERIFY2(got.startsWith("POST /form?x=1 HTTP/1.1\r\nHost: 127.0.0.1:" + QByteArray::number(origin.port()) + "\r\n"),
             got.constData());
    for (const char *gone : {"Proxy-Connection", "Proxy-Authorization", "X-Hop", "Keep-Alive", "somewhere.else"})
        QVERIFY2(!got.contains(gone), gone);
    QVERIFY(got.contains("\r\nX-End: kept\r\n"));
    // Nothing of proxymon's own is added unless asked for (viaOnRequest).
    QVERIFY2(!got.contains("Via:"), got.constData());
    QVERIFY(got.contains("\r\nConnection: close\r\n"));
    QVERIFY(got.endsWith("\r\n\r\nhello"));
}

void tst_HttpProxy::ipv6Origin()
{
    if (!ipv6Available())
        QSKIP("no IPv6 loopback on this machine");
    Origin origin("six", "::1");
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QByteArray reply = proxy.ask("GET " + origin.url("/v6") + " HTTP/1.0\r\n\r\n");
    QCOMPARE(bodyOf(reply), QByteArray("six 0 GET /v6 HTTP/1.0"));
    QVERIFY(origin.requests().first().contains("\r\nHost: [::1]:" + QByteArray::number(origin.port()) + "\r\n"));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.upstream, QStringLiteral("[::1]:%1").arg(origin.port()));
}

void tst_HttpProxy::largeBodiesBothWays()
{
    // A 48 MiB upload and a 48 MiB download on one keep-alive connection,
    // through the rewriting path (no splice), with small buffers so that
    // backpressure works every step of the way.
    Origin origin("O");
    ProxyConfig config = proxyConfig();
    config.bufferBytes = 16 * 1024;
    RunningProxy proxy;
    QVERIFY(proxy.start(config));
    const QByteArray upload = randomBytes(BigBytes, 20);
    const QList<QByteArray> answers = offThread([&] {
        QList<QByteArray> got;
        Socket client = connectTo("127.0.0.1", proxy.port());
        QByteArray pending;
        sendAll(client.fd(), "POST " + origin.url("/up") + " HTTP/1.1\r\nContent-Length: "
                                 + QByteArray::number(upload.size()) + "\r\n\r\n" + upload);
        got.append(readHttpMessage(client.fd(), &pending));
        sendAll(client.fd(), "GET " + origin.url("/big") + " HTTP/1.1\r\n\r\n");
        got.append(readHttpMessage(client.fd(), &pending));
        return got;
    }, 120'000);
    QCOMPARE(answers.size(), 2);
    QCOMPARE(bodyOf(answers[0]), QByteArray("O 0 POST /up HTTP/1.1"));
    QCOMPARE(origin.requests().size(), 2);
    QCOMPARE(sha256(bodyOf(origin.requests().first())), sha256(upload));
    QCOMPARE(sha256(bodyOf(answers[1])), sha256(randomBytes(BigBytes, 21)));
    proxy.server.stop();
    QVERIFY(proxy.records.waitForClosed(1));
    QVERIFY(proxy.records.closed().first().bytesUp > quint64(BigBytes));
    QVERIFY(proxy.records.closed().first().bytesDown > quint64(BigBytes));
}

void tst_HttpProxy::labClientHalfCloses()
{
    // The lab's client through the proxy: request, shutdown, read to EOF.
    Origin origin("O");
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QByteArray reply = proxy.ask("GET " + origin.url("/") + " HTTP/1.1\nHost: www.example.org\n\n", true);
    QVERIFY2(reply.startsWith("HTTP/1.1 200 OK\r\n"), reply.constData());
    QCOMPARE(bodyOf(reply), QByteArray("O 0 GET / HTTP/1.1"));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::ClientFin);
    QCOMPARE(record.bytesDown, quint64(reply.size()));
}

void tst_HttpProxy::errorsAnswerLikeAProxy_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<QByteArray>("status");
    QTest::addColumn<QString>("cause");

    const QByteArray refused = "http://127.0.0.1:" + QByteArray::number(unusedPort()) + "/";
    QTest::newRow("refused") << "GET " + refused + " HTTP/1.1\r\n\r\n" << QByteArray("502 Bad Gateway")
                             << QStringLiteral("Connection refused");
    QTest::newRow("unknown host") << QByteArray("GET http://no-such-host.invalid/ HTTP/1.1\r\n\r\n")
                                  << QByteArray("502 Bad Gateway") << QStringLiteral("no-such-host.invalid");
    QTest::newRow("origin form") << QByteArray("GET / HTTP/1.1\r\nHost: www.google.com\r\n\r\n")
                                 << QByteArray("400 Bad Request") << QStringLiteral("not a proxy request");
    QTest::newRow("bad authority") << QByteArray("GET http://bad!host/ HTTP/1.1\r\n\r\n")
                                   << QByteArray("400 Bad Request") << QStringLiteral("not a valid host");
    QTest::newRow("not HTTP") << QByteArray("\x16\x03\x01\x00\x05hello", 10) << QByteArray("400 Bad Request")
                              << QStringLiteral("not HTTP");
}

void tst_HttpProxy::errorsAnswerLikeAProxy()
{
    QFETCH(QByteArray, request);
    QFETCH(QByteArray, status);
    QFETCH(QString, cause);
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QByteArray reply = proxy.ask(request);
    QVERIFY2(reply.startsWith("HTTP/1.1 " + status + "\r\n"), reply.constData());
    QVERIFY2(bodyOf(reply).contains(cause.toUtf8()), reply.constData());
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QVERIFY2(record.error.contains(cause), qPrintable(record.error));
    QCOMPARE(record.closeReason, Reason::Error);
    QCOMPARE(QString::fromUtf8(bodyOf(reply)).trimmed(), QStringLiteral("proxymon: ") + record.error);
}

void tst_HttpProxy::connectTimeoutAnswers504()
{
    UnansweringServer silent;
    const quint16 port = silent.port();
    ProxyConfig config = proxyConfig();
    config.connectTimeoutMs = 400;
    RunningProxy proxy;
    QVERIFY(proxy.start(config));
    const QByteArray reply = proxy.ask(
                                     "GET http://127.0.0.1:" + QByteArray::number(port) + "/ HTTP/1.1\r\n\r\n");
    QVERIFY2(reply.startsWith("HTTP/1.1 504 Gateway Timeout\r\n"), reply.constData());
    QVERIFY(bodyOf(reply).contains("timed out after 400 ms"));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QVERIFY2(record.error.contains(QStringLiteral("timed out")), qPrintable(record.error));
}

void tst_HttpProxy::headOverCapAnswers431()
{
    ProxyConfig config = proxyConfig();
    config.headBytes = 2048;
    RunningProxy proxy;
    QVERIFY(proxy.start(config));
    // The head never ends: the answer cannot wait for it.
    const QByteArray reply = proxy.ask("GET http://127.0.0.1:1/ HTTP/1.1\r\nX-Big: " + QByteArray(8192, 'b'), true);
    QVERIFY2(reply.startsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"), reply.constData());
}

void tst_HttpProxy::brokenChunkedBodyAnswers400()
{
    // The first chunk reaches the upstream, then the framing breaks: the
    // upstream would wait for the rest for ever, so proxymon answers 400
    // and lets the upstream go.
    std::atomic<bool> upstreamSawEnd{false};
    ScriptedServer upstream([&](Socket &connection, int) {
        readUntilEof(connection.fd());
        upstreamSawEnd = true;
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QByteArray url = "http://127.0.0.1:" + QByteArray::number(upstream.port()) + "/upload";
    const QByteArray reply = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), "POST " + url + " HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
        QThread::msleep(100); // the first chunk goes upstream
        sendAll(client.fd(), "zz-not-a-size\r\n");
        return readUntilEof(client.fd());
    });
    QVERIFY2(reply.startsWith("HTTP/1.1 400 Bad Request\r\n"), reply.constData());
    QVERIFY(bodyOf(reply).contains("chunked"));
    QVERIFY(QTest::qWaitFor([&] { return upstreamSawEnd.load(); }, 10'000));
    QVERIFY(proxy.records.waitForOnlyClosed().error.contains(QStringLiteral("chunked")));
}

void tst_HttpProxy::loopIsRefused()
{
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QByteArray self = "http://127.0.0.1:" + QByteArray::number(proxy.port()) + "/";
    const QByteArray reply = proxy.ask("GET " + self + " HTTP/1.1\r\n\r\n");
    QVERIFY2(reply.startsWith("HTTP/1.1 508 Loop Detected\r\n"), reply.constData());
    QVERIFY(proxy.records.waitForClosed(1));
    QCOMPARE(proxy.records.closed().size(), 1); // no second connection to itself
    QVERIFY(proxy.records.closed().first().error.contains(QStringLiteral("loop")));
}

void tst_HttpProxy::viaOnRequest()
{
    // --via names this proxymon in the forwarded request, and a request
    // that comes back carrying it is a loop, whatever address it went to.
    Origin origin("O");
    ProxyConfig config = proxyConfig();
    config.addVia = true;
    RunningProxy proxy;
    QVERIFY(proxy.start(config));
    const QByteArray reply = proxy.ask("GET " + origin.url("/") + " HTTP/1.1\r\n\r\n");
    QVERIFY2(reply.startsWith("HTTP/1.1 200 OK\r\n"), reply.constData());
    QCOMPARE(origin.requests().size(), 1);
    const QByteArray got = origin.requests().first();
    const qsizetype at = got.indexOf("\r\nVia: 1.1 proxymon-");
    QVERIFY2(at > 0, got.constData());
    const QByteArray token = got.mid(at + 11, got.indexOf("\r\n", at + 2) - at - 11);

    const QByteArray looped = proxy.ask("GET " + origin.url("/again") + " HTTP/1.1\r\nVia: 1.1 "
                                                               + token + "\r\n\r\n");
    QVERIFY2(looped.startsWith("HTTP/1.1 508 Loop Detected\r\n"), looped.constData());
    QCOMPARE(origin.requests().size(), 1);
}

void tst_HttpProxy::errorKeptWhenClientResets()
{
    // curl -x ... https://127.0.0.1:9/ reads the 502's status and resets
    // without reading the rest: the record still says what proxymon knew.
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QByteArray where = "127.0.0.1:" + QByteArray::number(unusedPort());
    const QByteArray status = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), "CONNECT " + where + " HTTP/1.1\r\nHost: " + where + "\r\n\r\n");
        // More than the client reads: unread bytes make close() a reset.
        sendAll(client.fd(), QByteArray(1000, 'x'));
        const QByteArray start = readExactly(client.fd(), 12);
        client.reset();
        return start;
    });
    QCOMPARE(status, QByteArray("HTTP/1.1 502"));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Error);
    QVERIFY2(record.error.contains(QStringLiteral("Connection refused")), qPrintable(record.error));
    QVERIFY2(record.error.contains(QString::fromLatin1(where)), qPrintable(record.error));
}

void tst_HttpProxy::allowListRefusesOthers()
{
    Origin origin("O");
    ProxyConfig config = proxyConfig();
    QString error;
    QVERIFY(config.setAllowedClients(QStringLiteral("10.0.0.0/8"), &error));
    RunningProxy proxy;
    QVERIFY(proxy.start(config));
    const QByteArray reply = proxy.ask("GET " + origin.url("/") + " HTTP/1.1\r\n\r\n");
    QVERIFY2(reply.startsWith("HTTP/1.1 403 Forbidden\r\n"), reply.constData());
    QVERIFY(bodyOf(reply).contains("not on the allow-list"));
    QCOMPARE(origin.connections(), 0);
    QVERIFY(proxy.records.waitForClosed(1));

    proxy.server.stop();
    QVERIFY(config.setAllowedClients(QStringLiteral("10.0.0.0/8, 127.0.0.1"), &error));
    QVERIFY(proxy.start(config));
    const QByteArray allowed = proxy.ask("GET " + origin.url("/") + " HTTP/1.0\r\n\r\n");
    QVERIFY2(allowed.startsWith("HTTP/1.1 200 OK\r\n"), allowed.constData());
}

void tst_HttpProxy::openProxyNeedsAllowList()
{
    ProxyConfig config = proxyConfig();
    config.listenAddress = QHostAddress(QHostAddress::AnyIPv4);
    config.allowNonLoopback = true;
    QVERIFY(config.validate().contains(QStringLiteral("--allow")));
    RunningProxy proxy;
    QVERIFY(!proxy.start(config));
    QVERIFY(proxy.server.errorString().contains(QStringLiteral("allow")));
    QString error;
    QVERIFY(config.setAllowedClients(QStringLiteral("192.168.1.0/24"), &error));
    QVERIFY(config.validate().isEmpty());
    QVERIFY(!config.setAllowedClients(QStringLiteral("192.168.1.0/99"), &error));
    QVERIFY(!config.clientAllowed(QHostAddress(QStringLiteral("127.0.0.1"))));
    QVERIFY(config.clientAllowed(QHostAddress(QStringLiteral("::ffff:192.168.1.7"))));
}

void tst_HttpProxy::connectTunnelBothWays()
{
    // 64 MiB each way at once through a CONNECT tunnel, byte-exact.
    const qsizetype size = 64 * 1024 * 1024;
    const QByteArray up = randomBytes(size, 11);
    const QByteArray down = randomBytes(size, 12);
    QByteArray upstreamGot;
    ScriptedServer upstream([&](Socket &connection, int) {
        std::thread writer([&] {
            sendAll(connection.fd(), down);
            connection.shutdownWrite();
        });
        upstreamGot = readUntilEof(connection.fd());
        writer.join();
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QByteArray authority = "127.0.0.1:" + QByteArray::number(upstream.port());
    QByteArray preamble;
    const QByteArray clientGot = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
        QByteArray pending;
        preamble = readHttpMessage(client.fd(), &pending);
        std::thread writer([&] {
            sendAll(client.fd(), up);
            client.shutdownWrite();
        });
        QByteArray rest = readUntilEof(client.fd());
        writer.join();
        return pending + rest;
    }, 120'000);
    QCOMPARE(preamble, QByteArray("HTTP/1.1 200 Connection established\r\n\r\n"));
    QCOMPARE(sha256(upstreamGot), sha256(up));
    QCOMPARE(sha256(clientGot), sha256(down));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed(20'000);
    QCOMPARE(record.upstream, QString::fromLatin1(authority));
    QCOMPARE(record.bytesUp, quint64(size));
    QCOMPARE(record.bytesDown, quint64(size + preamble.size()));
    QVERIFY(proxy.records.waitForExchanges(1));
    QVERIFY(proxy.records.exchanges().first().tunnel);
    QCOMPARE(proxy.records.exchanges().first().request.method(), QByteArrayView("CONNECT"));
}

void tst_HttpProxy::earlyTunnelBytesAndHalfClose()
{
    // The client does not wait for the 200: its bytes right after CONNECT
    // reach the echo server, and its FIN is passed on after them.
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QByteArray authority = "127.0.0.1:" + QByteArray::number(echo.port());
    const QByteArray reply = proxy.ask("CONNECT " + authority + " HTTP/1.1\r\n\r\nearly bytes", true);
    QCOMPARE(reply, QByteArray("HTTP/1.1 200 Connection established\r\n\r\nearly bytes"));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::ClientFin);
    QCOMPARE(record.bytesUp, quint64(11));
}

void tst_HttpProxy::resetThroughTunnel()
{
    // The far end resets the tunnel after a few bytes: the client gets the
    // bytes, then a reset, as it would without proxymon in between.
    ScriptedServer upstream([](Socket &connection, int) {
        sendAll(connection.fd(), "partial");
        QThread::msleep(200);
        connection.reset();
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QByteArray authority = "127.0.0.1:" + QByteArray::number(upstream.port());
    int error = 0;
    const QByteArray reply = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), "CONNECT " + authority + " HTTP/1.1\r\n\r\n");
        return readUntilEof(client.fd(), &error);
    });
    QCOMPARE(reply, QByteArray("HTTP/1.1 200 Connection established\r\n\r\npartial"));
    QCOMPARE(error, ECONNRESET);
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::UpstreamReset);
}

void tst_HttpProxy::curlThroughProxy()
{
    const QString curl = QStandardPaths::findExecutable(QStringLiteral("curl"));
    QVERIFY2(!curl.isEmpty(), "curl is not installed (scripts/deps.sh installs it)");
    Origin origin("O");
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QString proxyUrl = QStringLiteral("http://127.0.0.1:%1").arg(proxy.port());
    for (const bool tunnel : {false, true}) {
        QProcess process;
        QStringList arguments{QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                              QStringLiteral("-x"), proxyUrl, QString::fromLatin1(origin.url("/curl"))};
        if (tunnel)
            arguments.prepend(QStringLiteral("--proxytunnel"));
        process.start(curl, arguments);
        QVERIFY(QTest::qWaitFor([&] { return process.state() == QProcess::NotRunning; }, 30'000));
        QCOMPARE(process.exitCode(), 0);
        QVERIFY2(process.readAllStandardOutput().startsWith("O "), process.readAllStandardError().constData());
    }
    QVERIFY(proxy.records.waitForClosed(2));
    QVERIFY(proxy.records.waitForExchanges(2));
    const QList<HttpExchange> exchanges = proxy.records.exchanges();
    QCOMPARE(exchanges[0].request.target(), QByteArrayView(origin.url("/curl")));
    QCOMPARE(exchanges[1].request.method(), QByteArrayView("CONNECT"));
}

QTEST_GUILESS_MAIN(tst_HttpProxy)
#include "tst_httpproxy.moc"
