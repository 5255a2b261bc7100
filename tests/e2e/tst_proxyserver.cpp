// End-to-end tests of the forwarding engine's data path: real clients and
// upstreams on loopback, the proxy in this thread's event loop as in the
// app; bytes both ways, half-closes and resets passed on, memory bounded,
// urgent data, HTTP seen and raw bytes kept, the built-in echo target.

#include "builtinecho.h"
#include "loopback.h"
#include "runningproxy.h"
#include "ruledconfig.h"

#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <future>

using namespace Loopback;
using Reason = ConnectionRecord::CloseReason;

class tst_ProxyServer : public QObject
{
    Q_OBJECT

private slots:
    void bothWaysAtOnce_data();
    void bothWaysAtOnce();
    void labEchoFlow();
    void halfCloseClientFirst();
    void halfCloseUpstreamFirst();
    void resetFromClient();
    void resetFromUpstream();
    void slowReaderKeepsMemoryBounded();
    void clientGoneDuringBulkDownload();
    void failedConnectionCountsWhatArrived();
    void urgentDataDoesNotStall();
    void httpExchangesAreReported();
    void aBodyToTheEndIsWholeAtTheFin();
    void binaryConnectionIsRaw();
    void builtinEchoTarget();
};

void tst_ProxyServer::bothWaysAtOnce_data()
{
    QTest::addColumn<QByteArray>("address");
    QTest::newRow("ipv4") << QByteArray("127.0.0.1");
    QTest::newRow("ipv6") << QByteArray("::1");
}

void tst_ProxyServer::bothWaysAtOnce()
{
    QFETCH(QByteArray, address);
    if (address.contains(':') && !ipv6Available())
        QSKIP("no IPv6 loopback on this machine");

    const qsizetype size = 8 * 1024 * 1024 + 7;
    const QByteArray up = randomBytes(size, 1);
    const QByteArray down = randomBytes(size, 2);
    QByteArray upstreamReceived;
    ScriptedServer upstream([&](Socket &connection, int) {
        // Write and read at the same time, as a full-duplex peer does.
        std::thread writer([&] {
            sendAll(connection.fd(), down);
            connection.shutdownWrite();
        });
        upstreamReceived = readUntilEof(connection.fd());
        writer.join();
    }, address.constData());

    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig(address.constData(), address.constData(), upstream.port())));

    const QByteArray clientReceived = offThread([&] {
        Socket client = connectTo(address.constData(), proxy.port());
        std::thread writer([&] {
            sendAll(client.fd(), up);
            client.shutdownWrite();
        });
        const QByteArray received = readUntilEof(client.fd());
        writer.join();
        return received;
    });

    QCOMPARE(clientReceived.size(), down.size());
    QCOMPARE(sha256(clientReceived), sha256(down));
    QCOMPARE(sha256(upstreamReceived), sha256(up));

    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.bytesUp, quint64(size));
    QCOMPARE(record.bytesDown, quint64(size));
    QVERIFY(record.closeReason == Reason::ClientFin || record.closeReason == Reason::UpstreamFin);
    QVERIFY(record.client.startsWith(address.contains(':') ? "[::1]:" : "127.0.0.1:"));
    QVERIFY(record.upstreamAddress.endsWith(QStringLiteral(":%1").arg(upstream.port())));
    QVERIFY(record.closedMs >= record.openedMs);
}

void tst_ProxyServer::labEchoFlow()
{
    // The lab's client: send the request, shut down writing, read to EOF.
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", echo.port())));

    const QByteArray request("GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n");
    const QByteArray reply = proxy.ask(request, true);
    QCOMPARE(reply, request);
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::ClientFin);
    QCOMPARE(record.bytesUp, quint64(request.size()));
    QCOMPARE(record.bytesDown, quint64(request.size()));
    QVERIFY(record.error.isEmpty());
}

void tst_ProxyServer::halfCloseClientFirst()
{
    // The upstream answers only after the client's FIN, and its answer is
    // larger than any buffer on the way.
    const QByteArray answer = randomBytes(3 * 1024 * 1024, 3);
    QByteArray request;
    ScriptedServer upstream([&](Socket &connection, int) {
        request = readUntilEof(connection.fd());
        sendAll(connection.fd(), answer);
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", upstream.port())));

    const QByteArray received = proxy.ask("question", true);
    QCOMPARE(request, QByteArray("question"));
    QCOMPARE(sha256(received), sha256(answer));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::ClientFin);
    QCOMPARE(record.bytesDown, quint64(answer.size()));
}

void tst_ProxyServer::halfCloseUpstreamFirst()
{
    // The upstream greets and shuts down writing at once; the client still
    // sends afterwards, and the upstream must get all of it.
    const QByteArray late = randomBytes(2 * 1024 * 1024, 4);
    QByteArray upstreamReceived;
    ScriptedServer upstream([&](Socket &connection, int) {
        sendAll(connection.fd(), "hello, then FIN");
        connection.shutdownWrite();
        upstreamReceived = readUntilEof(connection.fd());
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", upstream.port())));

    const QByteArray greeting = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        const QByteArray received = readUntilEof(client.fd());
        sendAll(client.fd(), late);
        client.shutdownWrite();
        // The proxy closes once both sides have said FIN.
        readUntilEof(client.fd());
        return received;
    });
    QCOMPARE(greeting, QByteArray("hello, then FIN"));
    QVERIFY(proxy.records.waitForClosed(1));
    QCOMPARE(sha256(upstreamReceived), sha256(late));
    const ConnectionRecord record = proxy.records.closed().first();
    QCOMPARE(record.closeReason, Reason::UpstreamFin);
    QCOMPARE(record.bytesUp, quint64(late.size()));
}

void tst_ProxyServer::resetFromClient()
{
    std::atomic<int> upstreamError{-1};
    ScriptedServer upstream([&](Socket &connection, int) {
        int error = 0;
        readUntilEof(connection.fd(), &error);
        upstreamError = error;
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", upstream.port())));

    offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), "some bytes before the reset");
        QThread::msleep(200);
        client.reset();
        return 0;
    });
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::ClientReset);
    QVERIFY(QTest::qWaitFor([&] { return upstreamError.load() != -1; }, 10'000));
    QCOMPARE(upstreamError.load(), ECONNRESET);
}

void tst_ProxyServer::resetFromUpstream()
{
    ScriptedServer upstream([&](Socket &connection, int) {
        sendAll(connection.fd(), "partial answer");
        QThread::msleep(200);
        connection.reset();
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", upstream.port())));

    int clientError = 0;
    const QByteArray received = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        return readUntilEof(client.fd(), &clientError);
    });
    QCOMPARE(received, QByteArray("partial answer"));
    QCOMPARE(clientError, ECONNRESET);
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::UpstreamReset);
    QCOMPARE(record.bytesDown, quint64(14));
}

void tst_ProxyServer::slowReaderKeepsMemoryBounded()
{
    // The upstream offers far more than every buffer on the path can hold.
    // With backpressure it gets stuck once the kernel buffers and the
    // proxy's one buffer are full; without it, the proxy would soak it all up.
    const qsizetype offered = 192 * 1024 * 1024;
    const QByteArray payload = randomBytes(offered, 5);
    std::atomic<qint64> written{0};
    std::atomic<bool> done{false};
    ScriptedServer upstream([&](Socket &connection, int) {
        qsizetype sent = 0;
        while (sent < payload.size()) {
            const ssize_t n = ::send(connection.fd(), payload.constData() + sent,
                                     size_t(qMin<qsizetype>(65536, payload.size() - sent)), MSG_NOSIGNAL);
            if (n <= 0)
                break;
            sent += n;
            written = sent;
        }
        connection.shutdownWrite();
        done = true;
    });
    RunningProxy proxy;
    ProxyConfig config = forwardingConfig("127.0.0.1", "127.0.0.1", upstream.port());
    QVERIFY(proxy.start(config));

    Socket client = offThread([&] { return connectTo("127.0.0.1", proxy.port()); });
    // Let the upstream fill everything it can while the client reads nothing.
    const qint64 stalledAt = waitUntilSteady([&] { return qint64(written.load()); });
    // Four socket buffers (each at most the kernel's autotuning maximum) plus
    // the proxy's own buffer: well under the amount on offer.
    QVERIFY2(stalledAt < 64 * 1024 * 1024,
             qPrintable(QStringLiteral("upstream wrote %1 bytes to a client that reads nothing").arg(stalledAt)));
    QVERIFY(!done.load());

    const QByteArray received = offThread([&] {
        const QByteArray all = readUntilEof(client.fd());
        client.shutdownWrite();
        return all;
    });
    QCOMPARE(received.size(), payload.size());
    QCOMPARE(sha256(received), sha256(payload));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::UpstreamFin);
    QCOMPARE(record.bytesDown, quint64(offered));
}

void tst_ProxyServer::clientGoneDuringBulkDownload()
{
    // A bulk transfer is spliced; a client that vanishes mid-way must end
    // its connection as a reset and leave the proxy serving others.
    const QByteArray payload = randomBytes(64 * 1024 * 1024, 6);
    ScriptedServer upstream([&](Socket &connection, int index) {
        if (index == 0)
            sendAll(connection.fd(), payload);
        else
            sendAll(connection.fd(), "next");
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", upstream.port())));
    const QByteArray head = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        // Reading late fills the proxy's socket, so its reads come back full
        // and it switches to splicing.
        QThread::msleep(300);
        const QByteArray start = readExactly(client.fd(), 4 * 1024 * 1024);
        client.reset();
        return start;
    });
    QCOMPARE(head, payload.left(4 * 1024 * 1024));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::ClientReset);
    QVERIFY(record.bytesDown >= quint64(head.size()));

    const QByteArray next = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        return readExactly(client.fd(), 4);
    });
    QCOMPARE(next, QByteArray("next"));
}

void tst_ProxyServer::failedConnectionCountsWhatArrived()
{
    // A client with a small window reads 1 MiB, stops, and goes away with
    // data unread (a reset). What proxymon had written to it but the client
    // never acknowledged died in proxymon's send queue: the record counts
    // what reached the client, not what was handed to the kernel.
    const QByteArray payload = randomBytes(64 * 1024 * 1024, 16);
    ScriptedServer upstream([&](Socket &connection, int) { sendAll(connection.fd(), payload); });
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", upstream.port())));
    const qint64 read = offThread([&] {
        Socket client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        const int window = 32 * 1024; // before connect(), so the window scale follows it
        setsockopt(client.fd(), SOL_SOCKET, SO_RCVBUF, &window, sizeof window);
        setTimeouts(client.fd(), SocketTimeoutMs);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(proxy.port());
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(client.fd(), reinterpret_cast<sockaddr *>(&address), sizeof address) != 0)
            return qint64(-1);
        const qint64 got = readExactly(client.fd(), 1024 * 1024).size();
        // Let everything on the way fill up before leaving.
        QThread::msleep(500);
        client.close();
        return got;
    });
    QCOMPARE(read, qint64(1024 * 1024));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::ClientReset);
    // The client's receive buffer (the kernel doubles what was asked) held
    // the rest of what it acknowledged.
    QVERIFY2(record.bytesDown >= quint64(read), qPrintable(QString::number(record.bytesDown)));
    QVERIFY2(record.bytesDown <= quint64(read) + 4 * 32 * 1024,
             qPrintable(QStringLiteral("%1 bytes counted, %2 read").arg(record.bytesDown).arg(read)));
}

void tst_ProxyServer::urgentDataDoesNotStall()
{
    // A read stops short at TCP's urgent mark with data still queued
    // behind it, and no new edge comes for that data. Every byte, the
    // urgent one too (kept inline), must go on at once, also without a FIN
    // to wake the proxy up. (Passed on as ordinary data: its urgency is
    // lost, the byte is not.)
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", echo.port())));
    const QByteArray echoed = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        setTimeouts(client.fd(), 2'000);
        const QByteArray before(4000, 'a');
        const QByteArray after(4000, 'c');
        ::send(client.fd(), before.constData(), size_t(before.size()), MSG_MORE);
        ::send(client.fd(), "!", 1, MSG_OOB | MSG_MORE);
        ::send(client.fd(), after.constData(), size_t(after.size()), 0);
        return readExactly(client.fd(), before.size() + 1 + after.size());
    });
    QCOMPARE(echoed, QByteArray(4000, 'a') + '!' + QByteArray(4000, 'c'));
}

void tst_ProxyServer::httpExchangesAreReported()
{
    // A keep-alive client pipelines a GET and a POST; the upstream answers
    // both, the second with a chunked body. The bytes arrive unchanged and
    // the capture pairs each request with its response.
    const QByteArray requests("GET /first HTTP/1.1\r\nHost: test\r\n\r\n"
                              "POST /second HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello world");
    const QByteArray responses("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
                               "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n");
    QByteArray upstreamGot;
    ScriptedServer upstream([&](Socket &connection, int) {
        upstreamGot = readExactly(connection.fd(), requests.size());
        sendAll(connection.fd(), responses);
        readUntilEof(connection.fd());
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", upstream.port())));
    const QByteArray got = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), requests);
        const QByteArray answer = readExactly(client.fd(), responses.size());
        client.shutdownWrite();
        readUntilEof(client.fd());
        return answer;
    });
    QCOMPARE(got, responses);
    QCOMPARE(upstreamGot, requests);
    QVERIFY(proxy.records.waitForExchanges(2));
    const QList<HttpExchange> exchanges = proxy.records.exchanges();
    QCOMPARE(exchanges.size(), 2);
    QCOMPARE(exchanges[0].request.target(), QByteArrayView("/first"));
    QCOMPARE(exchanges[0].response.status, 200);
    QCOMPARE(exchanges[0].responseBody, QByteArray("first"));
    QCOMPARE(exchanges[1].request.method(), QByteArrayView("POST"));
    QCOMPARE(exchanges[1].requestBody, QByteArray("hello world"));
    QCOMPARE(exchanges[1].response.status, 201);
    QCOMPARE(exchanges[1].responseBodyBytes, quint64(6));
    QVERIFY(exchanges[1].complete);
    QVERIFY(exchanges[1].requestStartMs > 0 && exchanges[1].responseCompleteMs >= exchanges[1].requestStartMs);
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.requests, quint32(2));
    QVERIFY(!record.raw);
    QCOMPARE(exchanges[0].connectionId, record.id);
}

void tst_ProxyServer::aBodyToTheEndIsWholeAtTheFin()
{
    // The upstream answers with a body that runs to the end of the
    // connection (HTTP/1.0, no length) and shuts down its writing; the
    // client reads to that FIN and keeps its own side open. The exchange
    // is reported whole then, while the connection lives on: it does not
    // wait for the client to close.
    const QByteArray request("GET /stream HTTP/1.0\r\nHost: test\r\n\r\n");
    const QByteArray response("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    ScriptedServer upstream([&](Socket &connection, int) {
        readExactly(connection.fd(), request.size());
        sendAll(connection.fd(), response);
        connection.shutdownWrite();
        readUntilEof(connection.fd());
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", upstream.port())));
    std::promise<void> closeNow;
    auto client = std::async(std::launch::async, [&, closing = closeNow.get_future()] {
        Socket socket = connectTo("127.0.0.1", proxy.port());
        sendAll(socket.fd(), request);
        const QByteArray got = readUntilEof(socket.fd());
        closing.wait_for(std::chrono::seconds(15)); // then closes
        return got;
    });
    const bool reported = proxy.records.waitForExchanges(1, 5'000);
    const bool liveThen = proxy.records.closed().isEmpty();
    closeNow.set_value();
    QCOMPARE(client.get(), response);
    QVERIFY(reported);
    QVERIFY(liveThen);
    const HttpExchange exchange = proxy.records.exchanges().constFirst();
    QCOMPARE(exchange.response.status, 200);
    QCOMPARE(exchange.responseBody, QByteArray("until the end"));
    QVERIFY(exchange.complete);
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::UpstreamFin);
}

void tst_ProxyServer::binaryConnectionIsRaw()
{
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", echo.port())));
    const QByteArray hello("\x16\x03\x01\x00\x05hello", 10);
    const QByteArray reply = proxy.ask(hello, true);
    QCOMPARE(reply, hello);
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QVERIFY(record.raw);
    QCOMPARE(record.clientPrefix, hello);
    QCOMPARE(record.upstreamPrefix, hello);
    QCOMPARE(record.requests, quint32(0));
    QVERIFY(proxy.records.exchanges().isEmpty());
}

void tst_ProxyServer::builtinEchoTarget()
{
    RunningProxy proxy;
    ProxyConfig config = forwardingConfig("127.0.0.1", "unused", 1);
    QString error;
    QVERIFY(config.setTarget(QStringLiteral("builtin:echo"), &error));
    // The relay does not link the lab: without an echo proxy.server given, the
    // target is refused, with why.
    QVERIFY(!proxy.start(config));
    QCOMPARE(proxy.server.errorString(), QStringLiteral("this proxymon has no built-in echo server"));
    proxy.server.setEchoStarter(BuiltinEcho::starter());
    QVERIFY(proxy.start(config));
    // The lab's echo flow, with more than the echo proxy.server holds at once:
    // send, shut down writing, read the echo until EOF.
    const QByteArray payload = randomBytes(3 * 1024 * 1024 + 5, 9);
    const QByteArray echoed = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        std::thread writer([&] {
            sendAll(client.fd(), payload);
            client.shutdownWrite();
        });
        QByteArray received = readUntilEof(client.fd());
        writer.join();
        return received;
    });
    QCOMPARE(sha256(echoed), sha256(payload));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.upstream, QStringLiteral("builtin:echo"));
    QVERIFY(record.upstreamAddress.startsWith(QStringLiteral("127.0.0.1:")));
    QCOMPARE(record.closeReason, ConnectionRecord::CloseReason::ClientFin);
    QCOMPARE(record.bytesUp, quint64(payload.size()));
    QCOMPARE(record.bytesDown, quint64(payload.size()));
    proxy.server.stop();
}

QTEST_GUILESS_MAIN(tst_ProxyServer)
#include "tst_proxyserver.moc"
