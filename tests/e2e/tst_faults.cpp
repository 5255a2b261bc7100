// Faults done to one live connection, as the window's row menu does them
// (ProxyServer::act): real resets, half-closes both ways, stalls, black
// holes, a limit then close, a throttle on a spliced transfer; each seen
// by the client and the upstream, with the bytes checked by digest.

#include "faultaction.h"
#include "faultrule.h"
#include "loopback.h"
#include "monotonicclock.h"
#include "runningproxy.h"
#include "ruledconfig.h"

#include <QTest>

#include <atomic>
#include <mutex>
#include <poll.h>
#include <sys/socket.h>
#include <thread>

using namespace Loopback;
using Kind = FaultAction::Kind;
using Target = FaultAction::Target;

namespace {

FaultAction fault(Kind kind, Target target)
{
    FaultAction action;
    action.kind = kind;
    action.target = target;
    return action;
}

// An upstream that sends chunk again and again, as fast as it goes, until
// stop or its client goes: a download long enough to be spliced.
ScriptedServer::Handler repeating(const QByteArray &chunk, std::atomic<bool> &stop)
{
    return [&chunk, &stop](Socket &connection, int) {
        while (!stop.load()) {
            if (!sendAll(connection.fd(), chunk))
                return;
        }
    };
}

// The first connection of a server is number 1.
constexpr quint64 First = 1;

bool relaying(const RecordCollector &records, quint64 id)
{
    const ConnectionRecord record = records.latest(id);
    return record.id == id && record.state == ConnectionRecord::State::Open && !record.upstreamAddress.isEmpty();
}

} // namespace

class tst_Faults : public QObject
{
    Q_OBJECT
private slots:
    void resetReachesABlockedClientAtOnce();
    void resetUpstreamOnly();
    void halfCloseTowardTheClient();
    void halfCloseTowardTheUpstream();
    void stallForTwoSeconds();
    void blackholeThenResume();
    void limitThenClose();
    void closeCleanly();
    void throttleASplicedTransfer();
    void ruleOnFirstData();
    void ruleAfterADelay();
    void ruleAfterBytes();
    void ruleLimitThenClose();
    void ruleForOtherClientsOnly();
    void probabilityZeroNeverFires();
    void reloadKeepsEachConnectionsDraw();
    void refuseForAWhile();
    void stallFromTheAcceptHoldsTheFirstBytes();
    void halfCloseASplicedDownload();
};

void tst_Faults::resetReachesABlockedClientAtOnce()
{
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(echo.port())));
    std::atomic<qint64> failedUs{0};
    std::atomic<int> failure{0};
    std::thread client([&] {
        Socket socket = connectTo("127.0.0.1", proxy.port());
        sendAll(socket.fd(), "ping");
        if (readExactly(socket.fd(), 4) != "ping")
            return;
        char byte;
        const ssize_t n = ::recv(socket.fd(), &byte, 1, 0); // blocked here when the reset comes
        failure = n < 0 ? errno : -1;
        failedUs = MonotonicClock::nowUs();
    });
    QTRY_VERIFY(relaying(proxy.records, First) && proxy.records.latest(First).bytesDown == 4);
    QTest::qWait(100); // the client is in recv()
    const qint64 askedUs = MonotonicClock::nowUs();
    proxy.server.act(First, fault(Kind::Reset, Target::Client), QStringLiteral("by the test"));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    client.join();
    QCOMPARE(failure.load(), ECONNRESET);
    qInfo("the client's recv() failed %lld µs after the reset was asked for", failedUs - askedUs);
    QVERIFY2(failedUs - askedUs < 50'000, qPrintable(QString::number(failedUs - askedUs)));
    QCOMPARE(record.closeReason, ConnectionRecord::CloseReason::Fault);
    QVERIFY2(record.error.contains(QStringLiteral("reset the client (by the test)")), qPrintable(record.error));
    QVERIFY(record.timeline.find(TimelineMark::Kind::ResetSent, TimelineMark::Lane::Client));
    QVERIFY(!record.timeline.find(TimelineMark::Kind::ResetSent, TimelineMark::Lane::Upstream));
    const TimelineMark *fired = record.timeline.find(TimelineMark::Kind::Fault, TimelineMark::Lane::Connection);
    QVERIFY(fired);
    QVERIFY(fired->note.contains(QStringLiteral("reset the client")));
}

void tst_Faults::resetUpstreamOnly()
{
    std::atomic<int> upstreamError{0};
    ScriptedServer upstream([&](Socket &connection, int) {
        int error = 0;
        readUntilEof(connection.fd(), &error);
        upstreamError = error;
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port())));
    int clientError = -1;
    QByteArray clientGot;
    std::thread client([&] {
        Socket socket = connectTo("127.0.0.1", proxy.port());
        clientGot = readUntilEof(socket.fd(), &clientError);
    });
    QTRY_VERIFY(relaying(proxy.records, First));
    proxy.server.act(First, fault(Kind::Reset, Target::Upstream), QStringLiteral("by the test"));
    client.join();
    QTRY_COMPARE(upstreamError.load(), ECONNRESET);
    QCOMPARE(clientError, 0); // the client gets a FIN
    QVERIFY(clientGot.isEmpty());
}

void tst_Faults::halfCloseTowardTheClient()
{
    // The client reads its EOF while what it writes afterwards still
    // reaches the upstream, whole.
    QByteArray upstreamGot;
    ScriptedServer upstream([&](Socket &connection, int) { upstreamGot = readUntilEof(connection.fd()); });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port())));
    const QByteArray later = randomBytes(300'000, 21);
    std::atomic<bool> sawEof{false};
    std::thread client([&] {
        Socket socket = connectTo("127.0.0.1", proxy.port());
        char byte;
        if (::recv(socket.fd(), &byte, 1, 0) == 0)
            sawEof = true;
        sendAll(socket.fd(), later);
        socket.shutdownWrite();
        char rest;
        ::recv(socket.fd(), &rest, 1, 0);
    });
    QTRY_VERIFY(relaying(proxy.records, First));
    proxy.server.act(First, fault(Kind::HalfClose, Target::Client), QStringLiteral("by the test"));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    client.join();
    QVERIFY(sawEof.load());
    QCOMPARE(sha256(upstreamGot), sha256(later));
    QVERIFY(record.timeline.find(TimelineMark::Kind::FinSent, TimelineMark::Lane::Client));
    QVERIFY(record.timeline.find(TimelineMark::Kind::Fault, TimelineMark::Lane::Connection));
}

void tst_Faults::halfCloseTowardTheUpstream()
{
    // The mirror: the upstream reads EOF, and what it sends afterwards
    // still reaches the client, whole.
    const QByteArray later = randomBytes(300'000, 22);
    std::atomic<bool> upstreamSawEof{false};
    ScriptedServer upstream([&](Socket &connection, int) {
        char byte;
        if (::recv(connection.fd(), &byte, 1, 0) == 0)
            upstreamSawEof = true;
        sendAll(connection.fd(), later);
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port())));
    QByteArray clientGot;
    std::thread client([&] {
        Socket socket = connectTo("127.0.0.1", proxy.port());
        clientGot = readUntilEof(socket.fd());
    });
    QTRY_VERIFY(relaying(proxy.records, First));
    proxy.server.act(First, fault(Kind::HalfClose, Target::Upstream), QStringLiteral("by the test"));
    client.join();
    QVERIFY(upstreamSawEof.load());
    QCOMPARE(sha256(clientGot), sha256(later));
}

void tst_Faults::stallForTwoSeconds()
{
    // The client writes 100 bytes every 20 ms; up is stalled for 2 s: the
    // upstream gets nothing meanwhile, then everything.
    std::mutex mutex;
    std::vector<std::pair<qint64, qsizetype>> arrivals; // monotonic µs, bytes
    QByteArray upstreamGot;
    ScriptedServer upstream([&](Socket &connection, int) {
        char buffer[4096];
        for (;;) {
            const ssize_t n = ::recv(connection.fd(), buffer, sizeof buffer, 0);
            if (n <= 0)
                return;
            std::lock_guard lock(mutex);
            arrivals.push_back({MonotonicClock::nowUs(), n});
            upstreamGot.append(buffer, n);
        }
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port())));
    const QByteArray sent = randomBytes(150 * 100, 23);
    std::thread client([&] {
        Socket socket = connectTo("127.0.0.1", proxy.port());
        for (qsizetype at = 0; at < sent.size(); at += 100) {
            sendAll(socket.fd(), sent.mid(at, 100));
            QTest::qSleep(20);
        }
        socket.shutdownWrite();
        readUntilEof(socket.fd());
    });
    QTRY_VERIFY(relaying(proxy.records, First));
    FaultAction stall = fault(Kind::Stall, Target::Upstream);
    stall.durationUs = 2'000'000;
    const qint64 stalledUs = MonotonicClock::nowUs();
    proxy.server.act(First, stall, QStringLiteral("by the test"));
    client.join();
    proxy.records.waitForOnlyClosed();
    QCOMPARE(sha256(upstreamGot), sha256(sent));
    qint64 firstAfter = -1;
    {
        std::lock_guard lock(mutex);
        for (const auto &[atUs, bytes] : arrivals) {
            // A few ms for the stall to reach the worker.
            if (atUs > stalledUs + 20'000 && atUs < stalledUs + 1'980'000)
                QFAIL(qPrintable(QStringLiteral("%1 bytes arrived %2 µs into the stall").arg(bytes).arg(atUs - stalledUs)));
            if (atUs >= stalledUs + 1'980'000 && firstAfter < 0)
                firstAfter = atUs - stalledUs;
        }
    }
    qInfo("the first bytes after the stall came at %lld µs", firstAfter);
    QVERIFY(firstAfter >= 1'980'000 && firstAfter < 2'200'000);
}

void tst_Faults::blackholeThenResume()
{
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(echo.port())));
    Socket socket = connectTo("127.0.0.1", proxy.port());
    QTRY_VERIFY(relaying(proxy.records, First));
    proxy.server.act(First, fault(Kind::Blackhole, Target::Upstream), QStringLiteral("by the test"));
    QTRY_VERIFY(proxy.records.latest(First).conditions.contains(QStringLiteral("up black hole")));
    sendAll(socket.fd(), "lost");
    QTest::qWait(200);
    QTRY_COMPARE(proxy.records.latest(First).bytesUp, quint64(0));
    proxy.server.act(First, fault(Kind::Resume, Target::Upstream), QStringLiteral("by the test"));
    QTRY_VERIFY(proxy.records.latest(First).conditions.isEmpty());
    const QByteArray back = offThread([&] {
        sendAll(socket.fd(), "found");
        return readExactly(socket.fd(), 5);
    });
    QCOMPARE(back, QByteArrayLiteral("found"));
    socket.shutdownWrite();
    QCOMPARE(offThread([&] { return readUntilEof(socket.fd()); }), QByteArray());
}

void tst_Faults::limitThenClose()
{
    // Exactly 1,000 bytes of a long answer, then EOF.
    const QByteArray body = randomBytes(1'000'000, 24);
    ScriptedServer upstream([&](Socket &connection, int) {
        char go;
        if (::recv(connection.fd(), &go, 1, 0) == 1)
            sendAll(connection.fd(), body);
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port())));
    Socket socket = connectTo("127.0.0.1", proxy.port());
    QTRY_VERIFY(relaying(proxy.records, First));
    FaultAction limit = fault(Kind::Limit, Target::Client);
    limit.bytes = 1000;
    limit.then = Kind::Close;
    proxy.server.act(First, limit, QStringLiteral("by the test"));
    QTRY_VERIFY2(proxy.records.latest(First).conditions.contains(QStringLiteral("down at 1KB: close cleanly")),
                 qPrintable(proxy.records.latest(First).conditions));
    int error = -1;
    const QByteArray got = offThread([&] {
        sendAll(socket.fd(), "g");
        return readUntilEof(socket.fd(), &error);
    });
    QCOMPARE(error, 0);
    QCOMPARE(got.size(), 1000);
    QCOMPARE(got, body.left(1000));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, ConnectionRecord::CloseReason::Fault);
    QCOMPARE(record.bytesDown, quint64(1000));
}

void tst_Faults::closeCleanly()
{
    QByteArray upstreamGot;
    std::atomic<int> upstreamError{-1};
    ScriptedServer upstream([&](Socket &connection, int) {
        int error = 0;
        upstreamGot = readUntilEof(connection.fd(), &error);
        upstreamError = error;
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port())));
    Socket socket = connectTo("127.0.0.1", proxy.port());
    sendAll(socket.fd(), "before");
    QTRY_VERIFY(relaying(proxy.records, First) && proxy.records.latest(First).bytesUp == 6);
    proxy.server.act(First, fault(Kind::Close, Target::Both), QStringLiteral("by the test"));
    int error = -1;
    const QByteArray got = offThread([&] { return readUntilEof(socket.fd(), &error); });
    QCOMPARE(error, 0); // a FIN, not a reset
    QVERIFY(got.isEmpty());
    QTRY_COMPARE(upstreamError.load(), 0);
    QCOMPARE(upstreamGot, QByteArrayLiteral("before"));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, ConnectionRecord::CloseReason::Fault);
}

void tst_Faults::throttleASplicedTransfer()
{
    // A fast download, spliced, throttled to 1,000,000 B/s half a second
    // in: from a second after the change the rate is within 5% of it.
    const QByteArray chunk = randomBytes(1 << 20, 25);
    std::atomic<bool> stop{false};
    ScriptedServer upstream(repeating(chunk, stop));
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port())));
    QByteArray got;
    qint64 measured = -1;
    std::atomic<qint64> throttledUs{0};
    std::thread client([&] {
        Socket socket = connectTo("127.0.0.1", proxy.port());
        char buffer[256 * 1024];
        qint64 countFrom = -1;
        qint64 counted = 0;
        for (;;) {
            const ssize_t n = ::recv(socket.fd(), buffer, sizeof buffer, 0);
            if (n <= 0)
                break;
            const qint64 now = MonotonicClock::nowUs();
            if (got.size() < 64 * 1024 * 1024)
                got.append(buffer, n);
            if (throttledUs.load() > 0 && now >= throttledUs.load() + 1'000'000) {
                if (countFrom < 0)
                    countFrom = now;
                else
                    counted += n;
                if (now - countFrom >= 4'000'000) {
                    measured = counted * 1'000'000 / (now - countFrom);
                    break;
                }
            }
        }
        stop = true;
        socket.reset();
    });
    QTest::qWait(500);
    QVERIFY(proxy.records.latest(First).bytesDown > 10 * 1024 * 1024); // fast enough to be spliced
    FaultAction throttle = fault(Kind::Throttle, Target::Client);
    throttle.conditions.bytesPerSecond = 1'000'000;
    throttledUs = MonotonicClock::nowUs();
    proxy.server.act(First, throttle, QStringLiteral("by the test"));
    client.join();
    qInfo("after the throttle: %lld B/s", measured);
    QVERIFY2(qAbs(measured - 1'000'000) <= 50'000, qPrintable(QString::number(measured)));
    // The bytes are the source's, in order, across the change.
    QVERIFY(got.size() > 1 << 20);
    for (qsizetype at = 0; at + chunk.size() <= got.size(); at += chunk.size())
        QVERIFY2(got.mid(at, chunk.size()) == chunk, qPrintable(QString::number(at)));
}

void tst_Faults::ruleOnFirstData()
{
    std::atomic<qsizetype> upstreamGot{-1};
    ScriptedServer upstream([&](Socket &connection, int) { upstreamGot = readUntilEof(connection.fd()).size(); });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port(), {}, {QStringLiteral("reset:on=first-data,side=client")})));
    int error = 0;
    offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        QTest::qSleep(50); // connected upstream first
        sendAll(client.fd(), "hello");
        return readUntilEof(client.fd(), &error);
    });
    QCOMPARE(error, ECONNRESET);
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, ConnectionRecord::CloseReason::Fault);
    QCOMPARE(record.bytesUp, quint64(0)); // reset before a byte was relayed
    QTRY_COMPARE(upstreamGot.load(), 0);
}

void tst_Faults::ruleAfterADelay()
{
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(echo.port(), {}, {QStringLiteral("reset:after=300ms")})));
    qint64 tookUs = 0;
    int error = 0;
    offThread([&] {
        const qint64 start = MonotonicClock::nowUs();
        Socket client = connectTo("127.0.0.1", proxy.port());
        readUntilEof(client.fd(), &error);
        tookUs = MonotonicClock::nowUs() - start;
        return 0;
    });
    QCOMPARE(error, ECONNRESET);
    qInfo("reset %lld µs after the connect", tookUs);
    QVERIFY2(tookUs >= 295'000 && tookUs < 350'000, qPrintable(QString::number(tookUs)));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    const TimelineMark *fired = record.timeline.find(TimelineMark::Kind::Fault, TimelineMark::Lane::Connection);
    QVERIFY(fired);
    QVERIFY2(qAbs(fired->atUs - 300'000) < 20'000, qPrintable(QString::number(fired->atUs)));
    QVERIFY2(fired->note.contains(QStringLiteral("by fault rule 1")), qPrintable(fired->note));
}

void tst_Faults::ruleAfterBytes()
{
    // A clean close once 5,000 bytes went down: exactly those, then EOF.
    const QByteArray body = randomBytes(200'000, 26);
    ScriptedServer upstream([&](Socket &connection, int) { sendAll(connection.fd(), body); });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port(), {}, {QStringLiteral("close:after-down=5000")})));
    int error = -1;
    const QByteArray got = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        return readUntilEof(client.fd(), &error);
    });
    QCOMPARE(error, 0);
    QCOMPARE(got, body.left(5000));
    QCOMPARE(proxy.records.waitForOnlyClosed().closeReason, ConnectionRecord::CloseReason::Fault);
}

void tst_Faults::ruleLimitThenClose()
{
    const QByteArray body = randomBytes(200'000, 27);
    ScriptedServer upstream([&](Socket &connection, int) { sendAll(connection.fd(), body); });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port(), {}, {QStringLiteral("limit:dir=down,bytes=1000,then=close")})));
    int error = -1;
    const QByteArray got = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        return readUntilEof(client.fd(), &error);
    });
    QCOMPARE(error, 0);
    QCOMPARE(got.size(), 1000);
    QCOMPARE(got, body.left(1000));
}

void tst_Faults::ruleForOtherClientsOnly()
{
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(echo.port(), {}, {QStringLiteral("reset:client=10.0.0.0/8")})));
    const QByteArray back = proxy.ask("fine", true);
    QCOMPARE(back, QByteArrayLiteral("fine"));
    QVERIFY(proxy.records.waitForOnlyClosed().closeReason != ConnectionRecord::CloseReason::Fault);
}

void tst_Faults::probabilityZeroNeverFires()
{
    EchoServer echo;
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(echo.port(), {}, {QStringLiteral("reset:probability=0")})));
    const int good = offThread([&] {
        int answered = 0;
        for (int i = 0; i < 1000; ++i) {
            Socket client = connectTo("127.0.0.1", proxy.port());
            sendAll(client.fd(), "x");
            client.shutdownWrite();
            int error = 0;
            if (readUntilEof(client.fd(), &error) == "x" && error == 0)
                ++answered;
        }
        return answered;
    }, 120'000);
    QCOMPARE(good, 1000);
    QVERIFY(proxy.records.waitForClosed(1000, 30'000));
    for (const ConnectionRecord &record : proxy.records.closed()) {
        QVERIFY(!record.timeline.find(TimelineMark::Kind::Fault, TimelineMark::Lane::Connection));
        QVERIFY(!record.timeline.find(TimelineMark::Kind::ResetSent, TimelineMark::Lane::Client));
        QVERIFY2(record.conditions.isEmpty(), qPrintable(record.conditions)); // nothing drawn
    }
}

void tst_Faults::reloadKeepsEachConnectionsDraw()
{
    // Twenty live connections, each drawn once for p=0.5; the same rules
    // put in force again change none of them.
    EchoServer echo;
    RunningProxy proxy;
    const ProxyConfig config = ruledConfig(echo.port(), {QStringLiteral("down:latency=20ms,probability=0.5")});
    QVERIFY(proxy.start(config));
    std::vector<Socket> clients;
    for (int i = 0; i < 20; ++i)
        clients.push_back(connectTo("127.0.0.1", proxy.port()));
    QTRY_VERIFY(proxy.records.latest(20).id == 20 && relaying(proxy.records, 20));
    QTest::qWait(200);
    QStringList before;
    for (quint64 id = 1; id <= 20; ++id)
        before.append(proxy.records.latest(id).conditions);
    // Each row says its draw: some apply, some do not.
    const QString all = before.join(u'|');
    QVERIFY2(all.contains(QStringLiteral(", applies")) && all.contains(QStringLiteral("does not apply")), qPrintable(all));
    proxy.server.setRules(config.rules);
    QTest::qWait(300);
    QStringList after;
    for (quint64 id = 1; id <= 20; ++id)
        after.append(proxy.records.latest(id).conditions);
    QCOMPARE(after, before);
}

void tst_Faults::refuseForAWhile()
{
    // 300 ms in, new connections are refused for 600 ms; one accepted
    // before goes on meanwhile, and the port is the proxy's again after.
    EchoServer echo;
    RunningProxy proxy;
    QStringList notices;
    connect(&proxy.server, &ProxyServer::notice, this, [&](const QString &message) { notices.append(message); });
    QVERIFY(proxy.start(ruledConfig(echo.port(), {}, {QStringLiteral("refuse:for=600ms,after=300ms")})));
    const quint16 port = proxy.port();
    QElapsedTimer clock;
    clock.start();
    Socket early = connectTo("127.0.0.1", port);
    QVERIFY(early.isValid());
    QTRY_VERIFY_WITH_TIMEOUT(notices.size() == 1, 2000);
    QVERIFY2(notices[0].contains(QStringLiteral("refusing new connections")), qPrintable(notices[0]));
    QVERIFY(clock.elapsed() >= 280 && clock.elapsed() < 600);
    QVERIFY(proxy.server.isListening());
    QCOMPARE(proxy.port(), port);
    const int refusedError = offThread([&] {
        Socket refused = connectTo("127.0.0.1", port);
        return refused.isValid() ? 0 : errno;
    });
    QCOMPARE(refusedError, ECONNREFUSED);
    QCOMPARE(offThread([&] {
                 sendAll(early.fd(), "still");
                 return readExactly(early.fd(), 5);
             }),
             QByteArrayLiteral("still"));
    QTRY_VERIFY_WITH_TIMEOUT(notices.size() == 2, 2000);
    QVERIFY2(notices[1].contains(QStringLiteral("again")), qPrintable(notices[1]));
    const QByteArray back = askOnce(port, "back", true);
    QCOMPARE(back, QByteArrayLiteral("back"));
}

void tst_Faults::stallFromTheAcceptHoldsTheFirstBytes()
{
    // Up stalled from the accept for 300 ms: the lab client's request
    // (sent at once, then its FIN) reaches the upstream only after, whole,
    // though proxymon judges a connection's first bytes (TLS or not)
    // before relaying them.
    std::atomic<qint64> arrivedUs{0};
    QByteArray upstreamGot;
    ScriptedServer upstream([&](Socket &connection, int) {
        char first;
        if (::recv(connection.fd(), &first, 1, MSG_PEEK) == 1)
            arrivedUs = MonotonicClock::nowUs();
        upstreamGot = readUntilEof(connection.fd());
        sendAll(connection.fd(), "done");
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port(), {}, {QStringLiteral("stall:dir=up,for=300ms")})));
    const QByteArray request = "GET / HTTP/1.1\r\nHost: held.test\r\n\r\n";
    qint64 sentUs = 0;
    const QByteArray answer = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sentUs = MonotonicClock::nowUs();
        sendAll(client.fd(), request);
        client.shutdownWrite();
        return readUntilEof(client.fd());
    });
    QCOMPARE(answer, QByteArrayLiteral("done"));
    QCOMPARE(upstreamGot, request);
    qInfo("the request reached the upstream %lld µs after it was sent", arrivedUs - sentUs);
    QVERIFY2(arrivedUs - sentUs >= 280'000, qPrintable(QString::number(arrivedUs - sentUs)));
}

void tst_Faults::halfCloseASplicedDownload()
{
    // A fast download goes through a pipe (splice); half-closed toward the
    // client mid-way, the client reads a prefix of the stream, then EOF.
    const QByteArray chunk = randomBytes(1 << 20, 28);
    std::atomic<bool> stop{false};
    ScriptedServer upstream(repeating(chunk, stop));
    RunningProxy proxy;
    QVERIFY(proxy.start(ruledConfig(upstream.port())));
    int error = -1;
    QByteArray got;
    std::thread client([&] {
        Socket socket = connectTo("127.0.0.1", proxy.port());
        got = readUntilEof(socket.fd(), &error);
        stop = true;
    });
    QTRY_VERIFY(proxy.records.latest(First).bytesDown > 8 * 1024 * 1024);
    proxy.server.act(First, fault(Kind::HalfClose, Target::Client), QStringLiteral("by the test"));
    client.join();
    QCOMPARE(error, 0);
    QVERIFY(got.size() > 8 * 1024 * 1024);
    for (qsizetype at = 0; at < got.size(); at += chunk.size())
        QVERIFY2(got.mid(at, chunk.size()) == chunk.left(qMin(chunk.size(), got.size() - at)), qPrintable(QString::number(at)));
}

QTEST_GUILESS_MAIN(tst_Faults)
#include "tst_faults.moc"
