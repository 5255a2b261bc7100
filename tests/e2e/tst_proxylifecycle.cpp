// End-to-end tests of a proxy's and its connections' lives: reaching an
// upstream (refused, unknown, by name, timing out), listening (a port in
// use, beyond loopback), idle and half-close timeouts, stopping and
// starting under traffic, many connections, the connection limit, and the
// workers' niceness.

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

using namespace Loopback;
using Reason = ConnectionRecord::CloseReason;

class tst_ProxyLifecycle : public QObject
{
    Q_OBJECT

private slots:
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
    void workersRunAtTheirNiceness();
};

void tst_ProxyLifecycle::upstreamRefused()
{
    RunningProxy proxy;
    const quint16 closedPort = unusedPort();
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", closedPort)));

    QElapsedTimer clock;
    clock.start();
    const QByteArray received = proxy.ask("anyone there?");
    QVERIFY(received.isEmpty());
    QVERIFY2(clock.elapsed() < 5'000, "the client must learn promptly");
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Error);
    QVERIFY2(record.error.contains(QStringLiteral("refused")), qPrintable(record.error));
    QVERIFY(record.error.contains(QStringLiteral("127.0.0.1:%1").arg(closedPort)));
}

void tst_ProxyLifecycle::unknownHost()
{
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "no-such-host.invalid", 80)));

    const QByteArray received = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        return readUntilEof(client.fd());
    });
    QVERIFY(received.isEmpty());
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Error);
    QVERIFY2(record.error.contains(QStringLiteral("unknown host no-such-host.invalid")), qPrintable(record.error));
}

void tst_ProxyLifecycle::hostNameTarget()
{
    // "localhost" goes through the resolver thread; every address it gives
    // is tried, so an upstream on the IPv4 loopback only is still reached.
    EchoServer echo("127.0.0.1");
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "localhost", echo.port())));
    const QByteArray reply = proxy.ask("by name", true);
    QCOMPARE(reply, QByteArray("by name"));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.upstream, QStringLiteral("localhost:%1").arg(echo.port()));
    QCOMPARE(record.upstreamAddress, QStringLiteral("127.0.0.1:%1").arg(echo.port()));
}

void tst_ProxyLifecycle::connectTimeout()
{
    UnansweringServer silent;
    const quint16 port = silent.port();

    RunningProxy proxy;
    ProxyConfig config = forwardingConfig("127.0.0.1", "127.0.0.1", port);
    config.connectTimeoutMs = 400;
    QVERIFY(proxy.start(config));

    QElapsedTimer clock;
    clock.start();
    offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        return readUntilEof(client.fd());
    });
    QVERIFY2(clock.elapsed() >= 350, "the proxy gave up before its connect timeout");
    QVERIFY2(clock.elapsed() < 5'000, "the proxy did not give up at its connect timeout");
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Timeout);
    QVERIFY2(record.error.contains(QStringLiteral("timed out after 400 ms")), qPrintable(record.error));
}

void tst_ProxyLifecycle::portInUse()
{
    quint16 port = 0;
    Socket occupant = listenOn("127.0.0.1", 1, &port);
    RunningProxy proxy;
    QSignalSpy listening(&proxy.server, &ProxyServer::listeningChanged);
    ProxyConfig config = forwardingConfig("127.0.0.1", "127.0.0.1", 9);
    config.listenPort = port;
    QVERIFY(!proxy.start(config));
    QVERIFY(!proxy.server.isListening());
    QCOMPARE(listening.count(), 0);
    const QString error = proxy.server.errorString();
    QVERIFY2(error.contains(QStringLiteral("127.0.0.1:%1").arg(port)), qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("Address already in use")), qPrintable(error));

    // Once the port is free, the same proxy.server starts on it.
    occupant.close();
    QVERIFY(proxy.start(config));
    QCOMPARE(proxy.port(), port);
}

void tst_ProxyLifecycle::nonLoopbackNeedsOptIn()
{
    RunningProxy proxy;
    ProxyConfig config = forwardingConfig("0.0.0.0", "127.0.0.1", 9);
    QVERIFY(!proxy.start(config));
    QVERIFY2(proxy.server.errorString().contains(QStringLiteral("other machines")), qPrintable(proxy.server.errorString()));
    QVERIFY(!proxy.server.isListening());
}

void tst_ProxyLifecycle::idleTimeout()
{
    EchoServer echo;
    RunningProxy proxy;
    ProxyConfig config = forwardingConfig("127.0.0.1", "127.0.0.1", echo.port());
    config.idleTimeoutMs = 300;
    QVERIFY(proxy.start(config));
    QElapsedTimer clock;
    clock.start();
    const QByteArray reply = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), "ping");
        return readUntilEof(client.fd()); // the proxy closes it when idle
    });
    QCOMPARE(reply, QByteArray("ping"));
    QVERIFY(clock.elapsed() >= 250);
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Timeout);
    QVERIFY2(record.error.contains(QStringLiteral("idle")), qPrintable(record.error));
}

void tst_ProxyLifecycle::halfCloseTimeout()
{
    // The client said FIN; the upstream neither answers nor closes.
    ScriptedServer upstream([&](Socket &connection, int) {
        readUntilEof(connection.fd());
        // Keep the connection half-open well past the proxy's timeout.
        QThread::msleep(1'500);
    });
    RunningProxy proxy;
    ProxyConfig config = forwardingConfig("127.0.0.1", "127.0.0.1", upstream.port());
    config.halfCloseTimeoutMs = 300;
    QVERIFY(proxy.start(config));
    offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        client.shutdownWrite();
        return readUntilEof(client.fd());
    });
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Timeout);
    QVERIFY2(record.error.contains(QStringLiteral("half-closed")), qPrintable(record.error));
}

void tst_ProxyLifecycle::stopEndsLiveConnections()
{
    EchoServer echo;
    RunningProxy proxy;
    QSignalSpy stopped(&proxy.server, &ProxyServer::stopped);
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", echo.port())));
    const quint16 port = proxy.port();

    Socket client = offThread([&] { return connectTo("127.0.0.1", port); });
    QVERIFY(QTest::qWaitFor([&] { return proxy.server.liveConnections() == 1; }, 5'000));
    proxy.server.stop();
    QVERIFY(!proxy.server.isListening());
    // The listener is gone at once, before the grace ends.
    QVERIFY(!connectTo("127.0.0.1", port).isValid());
    QVERIFY(stopped.wait(5'000));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Stopped);
    int error = -1;
    offThread([&] { return readUntilEof(client.fd(), &error); });
    QCOMPARE(error, 0);
}

void tst_ProxyLifecycle::stopStartWhileTrafficFlows()
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
        RunningProxy proxy;
        ProxyConfig config = forwardingConfig("127.0.0.1", "127.0.0.1", echo.port());
        config.stopGraceMs = 20;
        QVERIFY(proxy.start(config));
        port = proxy.port();
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
            proxy.server.stop();
            QVERIFY(proxy.start(config));
            QCOMPARE(proxy.port(), port);
        }
        QTest::qWait(100);
        running = false;
        offThread([&] {
            for (std::thread &client : clients)
                client.join();
            return 0;
        });
        proxy.server.stop();
        QSignalSpy stopped(&proxy.server, &ProxyServer::stopped);
        QVERIFY(stopped.wait(5'000));
        QCOMPARE(corrupted.load(), 0);
        QVERIFY2(exchanged.load() > 0, "no traffic went through during the cycles");
    }
    // Everything the cycles started is gone: pools wait for their threads,
    // workers close their descriptors.
    QVERIFY(QTest::qWaitFor([&] { return threadCount() <= threadsBefore; }, 5'000));
    // The echo proxy.server closes its side once it has seen the proxy's FIN.
    (void)QTest::qWaitFor([&] { return openDescriptorCount() <= descriptorsBefore; }, 5'000);
    QCOMPARE(openDescriptorCount(), descriptorsBefore);
}

void tst_ProxyLifecycle::thousandConcurrentConnections()
{
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", echo.port())));
    const int count = 1000;

    std::vector<Socket> clients;
    std::atomic<bool> allOpen{false};
    std::atomic<bool> release{false};
    auto work = std::async(std::launch::async, [&] {
        for (int i = 0; i < count; ++i)
            clients.push_back(connectTo("127.0.0.1", proxy.port()));
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
    QCOMPARE(proxy.server.liveConnections(), count);
    QVERIFY(QTest::qWaitFor([&] { return echo.accepted() == count; }, 5'000));
    release = true;
    QVERIFY(QTest::qWaitFor([&] { return work.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 60'000));
    QCOMPARE(work.get(), count);
    QVERIFY(proxy.records.waitForClosed(count, 20'000));
    for (const ConnectionRecord &record : proxy.records.closed())
        QCOMPARE(record.closeReason, Reason::ClientFin);
    // Updates come in batches on a clock, not one signal per connection.
    QVERIFY2(proxy.records.batches() < count / 4, qPrintable(QString::number(proxy.records.batches())));
}

void tst_ProxyLifecycle::busyObserverGetsOneSnapshotEach()
{
    // The server's thread (the window's, in the app) busy while its
    // connections change and then close: the workers report several times
    // meanwhile, and the next batches hold each connection once, its latest
    // snapshot, so a closing record is never overtaken by an older one.
    constexpr int Clients = 20;
    EchoServer echo;
    RunningProxy proxy;
    QList<QList<ConnectionRecord>> batches;
    connect(&proxy.server, &ProxyServer::published, this,
            [&](const QList<ConnectionRecord> &records, const QList<HttpExchange> &) { batches.append(records); });
    QVERIFY(proxy.start(forwardingConfig("127.0.0.1", "127.0.0.1", echo.port())));
    std::vector<Socket> clients = offThread([&] {
        std::vector<Socket> opened;
        for (int i = 0; i < Clients; ++i) {
            opened.push_back(connectTo("127.0.0.1", proxy.port()));
            sendAll(opened.back().fd(), "hello");
            readExactly(opened.back().fd(), 5);
        }
        return opened;
    });
    QCOMPARE(proxy.server.liveConnections(), Clients);
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
    QCOMPARE(proxy.server.liveConnections(), Clients / 2);
}

void tst_ProxyLifecycle::connectionLimitPausesAccepting()
{
    EchoServer echo;
    RunningProxy proxy;
    QSignalSpy notices(&proxy.server, &ProxyServer::notice);
    ProxyConfig config = forwardingConfig("127.0.0.1", "127.0.0.1", echo.port());
    config.maxConnections = 3;
    QVERIFY(proxy.start(config));

    std::vector<Socket> clients;
    offThread([&] {
        for (int i = 0; i < 3; ++i)
            clients.push_back(connectTo("127.0.0.1", proxy.port()));
        return 0;
    });
    QVERIFY(QTest::qWaitFor([&] { return proxy.server.liveConnections() == 3; }, 5'000));
    QVERIFY(!notices.isEmpty());
    QVERIFY(notices.last().first().toString().contains(QStringLiteral("limit of 3")));

    // A fourth client waits in the backlog, unserved, until a slot frees.
    Socket fourth = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), "fourth");
        return client;
    });
    QTest::qWait(300);
    QCOMPARE(proxy.server.liveConnections(), 3);
    QCOMPARE(echo.accepted(), 3);

    clients[0].close();
    const QByteArray echoed = offThread([&] { return readExactly(fourth.fd(), 6); });
    QCOMPARE(echoed, QByteArray("fourth"));
    QCOMPARE(echo.accepted(), 4);
}

void tst_ProxyLifecycle::workersRunAtTheirNiceness()
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
    // The test's own main thread, by the name the kernel gives it.
    QFile comm(QStringLiteral("/proc/self/comm"));
    QVERIFY(comm.open(QIODevice::ReadOnly));
    const QString self = QString::fromLatin1(comm.readAll()).trimmed();
    EchoServer echo;
    RunningProxy proxy;
    ProxyConfig config = forwardingConfig("127.0.0.1", "127.0.0.1", echo.port());
    config.workers = 2;
    config.workerNiceness = 3;
    QVERIFY(proxy.start(config));
    const int own = nicenessOf(self).value(0, -100);
    QCOMPARE(own, 0);
    QTRY_COMPARE(nicenessOf(QStringLiteral("proxymon-worker")), QList<int>({3, 3}));
    // Still relaying, at the lower priority.
    const QByteArray reply = proxy.ask("nice", true);
    QCOMPARE(reply, QByteArray("nice"));
    QCOMPARE(nicenessOf(self).value(0, -100), 0);
}

QTEST_GUILESS_MAIN(tst_ProxyLifecycle)
#include "tst_proxylifecycle.moc"
