// End-to-end tests of the forwarding engine: real clients and upstreams on
// loopback, the proxy in this thread's event loop as in the app.

#include "builtinecho.h"
#include "loopback.h"
#include "proxyserver.h"
#include "recordcollector.h"

#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

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
    void upstreamRefused();
    void unknownHost();
    void hostNameTarget();
    void connectTimeout();
    void portInUse();
    void nonLoopbackNeedsOptIn();
    void idleTimeout();
    void halfCloseTimeout();
    void stopEndsLiveConnections();
    void stopStartWhileTrafficFlows();
    void thousandConcurrentConnections();
    void busyObserverGetsOneSnapshotEach();
    void connectionLimitPausesAccepting();
    void httpExchangesAreReported();
    void binaryConnectionIsRaw();
    void builtinEchoTarget();
    void workersRunAtTheirNiceness();

private:
    static ProxyConfig configFor(const char *listen, const char *targetHost, quint16 targetPort);
};

ProxyConfig tst_ProxyServer::configFor(const char *listen, const char *targetHost, quint16 targetPort)
{
    ProxyConfig config;
    config.listenAddress = QHostAddress(QString::fromLatin1(listen));
    config.listenPort = 0;
    config.targetHost = QString::fromLatin1(targetHost);
    config.targetPort = targetPort;
    config.stopGraceMs = 100;
    return config;
}

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

    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY2(server.start(configFor(address.constData(), address.constData(), upstream.port())),
             qPrintable(server.errorString()));

    const QByteArray clientReceived = offThread([&] {
        Socket client = connectTo(address.constData(), server.listenPort());
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

    const ConnectionRecord record = records.waitForOnlyClosed();
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
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", echo.port())));

    const QByteArray request("GET / HTTP/1.1\r\nHost: www.example.org\r\n\r\n");
    const QByteArray reply = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        sendAll(client.fd(), request);
        client.shutdownWrite();
        return readUntilEof(client.fd());
    });
    QCOMPARE(reply, request);
    const ConnectionRecord record = records.waitForOnlyClosed();
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
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", upstream.port())));

    const QByteArray received = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        sendAll(client.fd(), "question");
        client.shutdownWrite();
        return readUntilEof(client.fd());
    });
    QCOMPARE(request, QByteArray("question"));
    QCOMPARE(sha256(received), sha256(answer));
    const ConnectionRecord record = records.waitForOnlyClosed();
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
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", upstream.port())));

    const QByteArray greeting = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        const QByteArray received = readUntilEof(client.fd());
        sendAll(client.fd(), late);
        client.shutdownWrite();
        // The proxy closes once both sides have said FIN.
        readUntilEof(client.fd());
        return received;
    });
    QCOMPARE(greeting, QByteArray("hello, then FIN"));
    QVERIFY(records.waitForClosed(1));
    QCOMPARE(sha256(upstreamReceived), sha256(late));
    const ConnectionRecord record = records.closed().first();
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
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", upstream.port())));

    offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        sendAll(client.fd(), "some bytes before the reset");
        QThread::msleep(200);
        client.reset();
        return 0;
    });
    const ConnectionRecord record = records.waitForOnlyClosed();
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
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", upstream.port())));

    int clientError = 0;
    const QByteArray received = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        return readUntilEof(client.fd(), &clientError);
    });
    QCOMPARE(received, QByteArray("partial answer"));
    QCOMPARE(clientError, ECONNRESET);
    const ConnectionRecord record = records.waitForOnlyClosed();
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
    ProxyServer server;
    RecordCollector records(&server);
    ProxyConfig config = configFor("127.0.0.1", "127.0.0.1", upstream.port());
    QVERIFY(server.start(config));

    Socket client = offThread([&] { return connectTo("127.0.0.1", server.listenPort()); });
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
    const ConnectionRecord record = records.waitForOnlyClosed();
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
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", upstream.port())));
    const QByteArray head = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        // Reading late fills the proxy's socket, so its reads come back full
        // and it switches to splicing.
        QThread::msleep(300);
        const QByteArray start = readExactly(client.fd(), 4 * 1024 * 1024);
        client.reset();
        return start;
    });
    QCOMPARE(head, payload.left(4 * 1024 * 1024));
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::ClientReset);
    QVERIFY(record.bytesDown >= quint64(head.size()));

    const QByteArray next = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
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
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", upstream.port())));
    const qint64 read = offThread([&] {
        Socket client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        const int window = 32 * 1024; // before connect(), so the window scale follows it
        setsockopt(client.fd(), SOL_SOCKET, SO_RCVBUF, &window, sizeof window);
        setTimeouts(client.fd(), SocketTimeoutMs);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(server.listenPort());
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
    const ConnectionRecord record = records.waitForOnlyClosed();
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
    ProxyServer server;
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", echo.port())));
    const QByteArray echoed = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
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

void tst_ProxyServer::upstreamRefused()
{
    ProxyServer server;
    RecordCollector records(&server);
    const quint16 closedPort = unusedPort();
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", closedPort)));

    QElapsedTimer clock;
    clock.start();
    const QByteArray received = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        sendAll(client.fd(), "anyone there?");
        return readUntilEof(client.fd());
    });
    QVERIFY(received.isEmpty());
    QVERIFY2(clock.elapsed() < 5'000, "the client must learn promptly");
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Error);
    QVERIFY2(record.error.contains(QStringLiteral("refused")), qPrintable(record.error));
    QVERIFY(record.error.contains(QStringLiteral("127.0.0.1:%1").arg(closedPort)));
}

void tst_ProxyServer::unknownHost()
{
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(configFor("127.0.0.1", "no-such-host.invalid", 80)));

    const QByteArray received = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        return readUntilEof(client.fd());
    });
    QVERIFY(received.isEmpty());
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Error);
    QVERIFY2(record.error.contains(QStringLiteral("unknown host no-such-host.invalid")), qPrintable(record.error));
}

void tst_ProxyServer::hostNameTarget()
{
    // "localhost" goes through the resolver thread; every address it gives
    // is tried, so an upstream on the IPv4 loopback only is still reached.
    EchoServer echo("127.0.0.1");
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(configFor("127.0.0.1", "localhost", echo.port())));
    const QByteArray reply = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        sendAll(client.fd(), "by name");
        client.shutdownWrite();
        return readUntilEof(client.fd());
    });
    QCOMPARE(reply, QByteArray("by name"));
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.upstream, QStringLiteral("localhost:%1").arg(echo.port()));
    QCOMPARE(record.upstreamAddress, QStringLiteral("127.0.0.1:%1").arg(echo.port()));
}

void tst_ProxyServer::connectTimeout()
{
    UnansweringServer silent;
    const quint16 port = silent.port();

    ProxyServer server;
    RecordCollector records(&server);
    ProxyConfig config = configFor("127.0.0.1", "127.0.0.1", port);
    config.connectTimeoutMs = 400;
    QVERIFY(server.start(config));

    QElapsedTimer clock;
    clock.start();
    offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        return readUntilEof(client.fd());
    });
    QVERIFY2(clock.elapsed() >= 350, "the proxy gave up before its connect timeout");
    QVERIFY2(clock.elapsed() < 5'000, "the proxy did not give up at its connect timeout");
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Timeout);
    QVERIFY2(record.error.contains(QStringLiteral("timed out after 400 ms")), qPrintable(record.error));
}

void tst_ProxyServer::portInUse()
{
    quint16 port = 0;
    Socket occupant = listenOn("127.0.0.1", 1, &port);
    ProxyServer server;
    QSignalSpy listening(&server, &ProxyServer::listeningChanged);
    ProxyConfig config = configFor("127.0.0.1", "127.0.0.1", 9);
    config.listenPort = port;
    QVERIFY(!server.start(config));
    QVERIFY(!server.isListening());
    QCOMPARE(listening.count(), 0);
    const QString error = server.errorString();
    QVERIFY2(error.contains(QStringLiteral("127.0.0.1:%1").arg(port)), qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("Address already in use")), qPrintable(error));

    // Once the port is free, the same server starts on it.
    occupant.close();
    QVERIFY2(server.start(config), qPrintable(server.errorString()));
    QCOMPARE(server.listenPort(), port);
}

void tst_ProxyServer::nonLoopbackNeedsOptIn()
{
    ProxyServer server;
    ProxyConfig config = configFor("0.0.0.0", "127.0.0.1", 9);
    QVERIFY(!server.start(config));
    QVERIFY2(server.errorString().contains(QStringLiteral("other machines")), qPrintable(server.errorString()));
    QVERIFY(!server.isListening());
}

void tst_ProxyServer::idleTimeout()
{
    EchoServer echo;
    ProxyServer server;
    RecordCollector records(&server);
    ProxyConfig config = configFor("127.0.0.1", "127.0.0.1", echo.port());
    config.idleTimeoutMs = 300;
    QVERIFY(server.start(config));
    QElapsedTimer clock;
    clock.start();
    const QByteArray reply = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        sendAll(client.fd(), "ping");
        return readUntilEof(client.fd()); // the proxy closes it when idle
    });
    QCOMPARE(reply, QByteArray("ping"));
    QVERIFY(clock.elapsed() >= 250);
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Timeout);
    QVERIFY2(record.error.contains(QStringLiteral("idle")), qPrintable(record.error));
}

void tst_ProxyServer::halfCloseTimeout()
{
    // The client said FIN; the upstream neither answers nor closes.
    ScriptedServer upstream([&](Socket &connection, int) {
        readUntilEof(connection.fd());
        // Keep the connection half-open well past the proxy's timeout.
        QThread::msleep(1'500);
    });
    ProxyServer server;
    RecordCollector records(&server);
    ProxyConfig config = configFor("127.0.0.1", "127.0.0.1", upstream.port());
    config.halfCloseTimeoutMs = 300;
    QVERIFY(server.start(config));
    offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        client.shutdownWrite();
        return readUntilEof(client.fd());
    });
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Timeout);
    QVERIFY2(record.error.contains(QStringLiteral("half-closed")), qPrintable(record.error));
}

void tst_ProxyServer::stopEndsLiveConnections()
{
    EchoServer echo;
    ProxyServer server;
    RecordCollector records(&server);
    QSignalSpy stopped(&server, &ProxyServer::stopped);
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", echo.port())));
    const quint16 port = server.listenPort();

    Socket client = offThread([&] { return connectTo("127.0.0.1", port); });
    QVERIFY(QTest::qWaitFor([&] { return server.liveConnections() == 1; }, 5'000));
    server.stop();
    QVERIFY(!server.isListening());
    // The listener is gone at once, before the grace ends.
    QVERIFY(!connectTo("127.0.0.1", port).isValid());
    QVERIFY(stopped.wait(5'000));
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Stopped);
    int error = -1;
    offThread([&] { return readUntilEof(client.fd(), &error); });
    QCOMPARE(error, 0);
}

void tst_ProxyServer::stopStartWhileTrafficFlows()
{
    EchoServer echo;
    const int descriptorsBefore = openDescriptorCount();
    const int threadsBefore = threadCount();
    quint16 port = 0;
    std::atomic<bool> running{true};
    std::atomic<int> exchanged{0};
    std::atomic<int> corrupted{0};
    std::atomic<quint16> currentPort{0};
    {
        ProxyServer server;
        RecordCollector records(&server);
        ProxyConfig config = configFor("127.0.0.1", "127.0.0.1", echo.port());
        config.stopGraceMs = 20;
        QVERIFY(server.start(config));
        port = server.listenPort();
        config.listenPort = port;
        currentPort = port;

        // Two clients keep echoing through the proxy while it restarts. A
        // connection cut by a stop is expected; a wrong byte is not.
        std::vector<std::thread> clients;
        for (int c = 0; c < 2; ++c) {
            clients.emplace_back([&, c] {
                const QByteArray message = randomBytes(4096, quint32(100 + c));
                while (running.load()) {
                    Socket client = connectTo("127.0.0.1", currentPort.load());
                    if (!client.isValid())
                        continue;
                    setTimeouts(client.fd(), 2'000);
                    if (!sendAll(client.fd(), message))
                        continue;
                    const QByteArray echoed = readExactly(client.fd(), message.size());
                    if (echoed.size() == message.size()) {
                        if (echoed != message)
                            ++corrupted;
                        else
                            ++exchanged;
                    } else if (!message.startsWith(echoed)) {
                        ++corrupted;
                    }
                }
            });
        }
        for (int cycle = 0; cycle < 100; ++cycle) {
            QTest::qWait(cycle % 10 == 0 ? 50 : 5);
            server.stop();
            QVERIFY2(server.start(config), qPrintable(server.errorString()));
            QCOMPARE(server.listenPort(), port);
        }
        QTest::qWait(100);
        running = false;
        offThread([&] {
            for (std::thread &client : clients)
                client.join();
            return 0;
        });
        server.stop();
        QSignalSpy stopped(&server, &ProxyServer::stopped);
        QVERIFY(stopped.wait(5'000));
        QCOMPARE(corrupted.load(), 0);
        QVERIFY2(exchanged.load() > 0, "no traffic went through during the cycles");
    }
    // Everything the cycles started is gone: pools wait for their threads,
    // workers close their descriptors.
    QVERIFY(QTest::qWaitFor([&] { return threadCount() <= threadsBefore; }, 5'000));
    // The echo server closes its side once it has seen the proxy's FIN.
    (void)QTest::qWaitFor([&] { return openDescriptorCount() <= descriptorsBefore; }, 5'000);
    QCOMPARE(openDescriptorCount(), descriptorsBefore);
}

void tst_ProxyServer::thousandConcurrentConnections()
{
    EchoServer echo;
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", echo.port())));
    const int count = 1000;

    std::vector<Socket> clients;
    std::atomic<bool> allOpen{false};
    std::atomic<bool> release{false};
    auto work = std::async(std::launch::async, [&] {
        for (int i = 0; i < count; ++i)
            clients.push_back(connectTo("127.0.0.1", server.listenPort()));
        int good = 0;
        for (int i = 0; i < count; ++i) {
            const QByteArray message = QByteArray::number(i).repeated(10);
            if (sendAll(clients[size_t(i)].fd(), message) && readExactly(clients[size_t(i)].fd(), message.size()) == message)
                ++good;
        }
        allOpen = true;
        while (!release.load())
            QThread::msleep(5);
        for (Socket &client : clients)
            client.shutdownWrite();
        for (Socket &client : clients)
            readUntilEof(client.fd());
        return good;
    });
    QVERIFY(QTest::qWaitFor([&] { return allOpen.load(); }, 60'000));
    QCOMPARE(server.liveConnections(), count);
    QVERIFY(QTest::qWaitFor([&] { return echo.accepted() == count; }, 5'000));
    release = true;
    QVERIFY(QTest::qWaitFor([&] { return work.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 60'000));
    QCOMPARE(work.get(), count);
    QVERIFY(records.waitForClosed(count, 20'000));
    for (const ConnectionRecord &record : records.closed())
        QCOMPARE(record.closeReason, Reason::ClientFin);
    // Updates come in batches on a clock, not one signal per connection.
    QVERIFY2(records.batches() < count / 4, qPrintable(QString::number(records.batches())));
}

void tst_ProxyServer::busyObserverGetsOneSnapshotEach()
{
    // The server's thread (the window's, in the app) busy while its
    // connections change and then close: the workers report several times
    // meanwhile, and the next batches hold each connection once, its latest
    // snapshot, so a closing record is never overtaken by an older one.
    constexpr int Clients = 20;
    EchoServer echo;
    ProxyServer server;
    QList<QList<ConnectionRecord>> batches;
    connect(&server, &ProxyServer::published, this,
            [&](const QList<ConnectionRecord> &records, const QList<HttpExchange> &) { batches.append(records); });
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", echo.port())));
    std::vector<Socket> clients = offThread([&] {
        std::vector<Socket> opened;
        for (int i = 0; i < Clients; ++i) {
            opened.push_back(connectTo("127.0.0.1", server.listenPort()));
            sendAll(opened.back().fd(), "hello");
            readExactly(opened.back().fd(), 5);
        }
        return opened;
    });
    QCOMPARE(server.liveConnections(), Clients);
    QTest::qWait(150); // the opening snapshots are out
    batches.clear();

    // From here this thread runs no events: the workers relay and report
    // on their own, into outboxes nobody empties.
    const QByteArray message = randomBytes(1000, 3);
    for (Socket &client : clients) {
        QVERIFY(sendAll(client.fd(), message));
        QCOMPARE(readExactly(client.fd(), message.size()), message);
    }
    QThread::msleep(150); // a few of the workers' reports with every connection changed
    for (int i = 0; i < Clients / 2; ++i) {
        clients[size_t(i)].shutdownWrite();
        readUntilEof(clients[size_t(i)].fd());
    }
    QThread::msleep(150);

    QHash<quint64, ConnectionRecord> latest;
    QVERIFY(QTest::qWaitFor(
        [&] {
            for (const QList<ConnectionRecord> &batch : std::as_const(batches))
                for (const ConnectionRecord &record : batch)
                    latest.insert(record.id, record);
            return latest.size() == Clients;
        },
        5'000));
    for (const QList<ConnectionRecord> &batch : std::as_const(batches)) {
        QSet<quint64> ids;
        for (const ConnectionRecord &record : batch) {
            QVERIFY2(!ids.contains(record.id), "a connection twice in one batch");
            ids.insert(record.id);
        }
    }
    int closed = 0;
    for (const ConnectionRecord &record : std::as_const(latest)) {
        QCOMPARE(record.bytesUp, quint64(5 + message.size()));
        QCOMPARE(record.bytesDown, quint64(5 + message.size()));
        if (record.state == ConnectionRecord::State::Closed) {
            QCOMPARE(record.closeReason, Reason::ClientFin);
            ++closed;
        }
    }
    QCOMPARE(closed, Clients / 2);
    QCOMPARE(server.liveConnections(), Clients / 2);
}

void tst_ProxyServer::connectionLimitPausesAccepting()
{
    EchoServer echo;
    ProxyServer server;
    RecordCollector records(&server);
    QSignalSpy notices(&server, &ProxyServer::notice);
    ProxyConfig config = configFor("127.0.0.1", "127.0.0.1", echo.port());
    config.maxConnections = 3;
    QVERIFY(server.start(config));

    std::vector<Socket> clients;
    offThread([&] {
        for (int i = 0; i < 3; ++i)
            clients.push_back(connectTo("127.0.0.1", server.listenPort()));
        return 0;
    });
    QVERIFY(QTest::qWaitFor([&] { return server.liveConnections() == 3; }, 5'000));
    QVERIFY(!notices.isEmpty());
    QVERIFY(notices.last().first().toString().contains(QStringLiteral("limit of 3")));

    // A fourth client waits in the backlog, unserved, until a slot frees.
    Socket fourth = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        sendAll(client.fd(), "fourth");
        return client;
    });
    QTest::qWait(300);
    QCOMPARE(server.liveConnections(), 3);
    QCOMPARE(echo.accepted(), 3);

    clients[0].close();
    const QByteArray echoed = offThread([&] { return readExactly(fourth.fd(), 6); });
    QCOMPARE(echoed, QByteArray("fourth"));
    QCOMPARE(echo.accepted(), 4);
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
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", upstream.port())));
    const QByteArray got = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        sendAll(client.fd(), requests);
        const QByteArray answer = readExactly(client.fd(), responses.size());
        client.shutdownWrite();
        readUntilEof(client.fd());
        return answer;
    });
    QCOMPARE(got, responses);
    QCOMPARE(upstreamGot, requests);
    QVERIFY(records.waitForExchanges(2));
    const QList<HttpExchange> exchanges = records.exchanges();
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
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.requests, quint32(2));
    QVERIFY(!record.raw);
    QCOMPARE(exchanges[0].connectionId, record.id);
}

void tst_ProxyServer::binaryConnectionIsRaw()
{
    EchoServer echo;
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(configFor("127.0.0.1", "127.0.0.1", echo.port())));
    const QByteArray hello("\x16\x03\x01\x00\x05hello", 10);
    const QByteArray reply = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        sendAll(client.fd(), hello);
        client.shutdownWrite();
        return readUntilEof(client.fd());
    });
    QCOMPARE(reply, hello);
    const ConnectionRecord record = records.waitForOnlyClosed();
    QVERIFY(record.raw);
    QCOMPARE(record.clientPrefix, hello);
    QCOMPARE(record.upstreamPrefix, hello);
    QCOMPARE(record.requests, quint32(0));
    QVERIFY(records.exchanges().isEmpty());
}

void tst_ProxyServer::builtinEchoTarget()
{
    ProxyServer server;
    RecordCollector records(&server);
    ProxyConfig config = configFor("127.0.0.1", "unused", 1);
    QString error;
    QVERIFY(config.setTarget(QStringLiteral("builtin:echo"), &error));
    // The relay does not link the lab: without an echo server given, the
    // target is refused, with why.
    QVERIFY(!server.start(config));
    QCOMPARE(server.errorString(), QStringLiteral("this proxymon has no built-in echo server"));
    server.setEchoStarter(BuiltinEcho::starter());
    QVERIFY2(server.start(config), qPrintable(server.errorString()));
    // The lab's echo flow, with more than the echo server holds at once:
    // send, shut down writing, read the echo until EOF.
    const QByteArray payload = randomBytes(3 * 1024 * 1024 + 5, 9);
    const QByteArray echoed = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        std::thread writer([&] {
            sendAll(client.fd(), payload);
            client.shutdownWrite();
        });
        QByteArray received = readUntilEof(client.fd());
        writer.join();
        return received;
    });
    QCOMPARE(sha256(echoed), sha256(payload));
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.upstream, QStringLiteral("builtin:echo"));
    QVERIFY(record.upstreamAddress.startsWith(QStringLiteral("127.0.0.1:")));
    QCOMPARE(record.closeReason, ConnectionRecord::CloseReason::ClientFin);
    QCOMPARE(record.bytesUp, quint64(payload.size()));
    QCOMPARE(record.bytesDown, quint64(payload.size()));
    server.stop();
}

void tst_ProxyServer::workersRunAtTheirNiceness()
{
    // The window runs its engine's workers below its own thread; the
    // threads that relay (and only they) carry the niceness asked for.
    const auto nicenessOf = [](const QString &namePrefix) {
        QList<int> found;
        for (const QString &task : QDir(QStringLiteral("/proc/self/task")).entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
            QFile comm(QStringLiteral("/proc/self/task/%1/comm").arg(task));
            QFile stat(QStringLiteral("/proc/self/task/%1/stat").arg(task));
            if (!comm.open(QIODevice::ReadOnly) || !stat.open(QIODevice::ReadOnly))
                continue;
            if (!QString::fromLatin1(comm.readAll()).startsWith(namePrefix))
                continue;
            // After "(comm)": state is field 3, nice field 19.
            const QByteArray line = stat.readAll();
            const QList<QByteArray> fields = line.mid(line.lastIndexOf(')') + 2).split(' ');
            found.append(fields.value(16).toInt());
        }
        return found;
    };
    EchoServer echo;
    ProxyServer server;
    ProxyConfig config = configFor("127.0.0.1", "127.0.0.1", echo.port());
    config.workers = 2;
    config.workerNiceness = 3;
    QVERIFY(server.start(config));
    const int own = nicenessOf(QStringLiteral("tst_proxyserver")).value(0, -100);
    QCOMPARE(own, 0);
    QTRY_COMPARE(nicenessOf(QStringLiteral("proxymon-worker")), QList<int>({3, 3}));
    // Still relaying, at the lower priority.
    const QByteArray reply = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        sendAll(client.fd(), "nice");
        client.shutdownWrite();
        return readUntilEof(client.fd());
    });
    QCOMPARE(reply, QByteArray("nice"));
    QCOMPARE(nicenessOf(QStringLiteral("tst_proxyserver")).value(0, -100), 0);
}

QTEST_GUILESS_MAIN(tst_ProxyServer)
#include "tst_proxyserver.moc"
