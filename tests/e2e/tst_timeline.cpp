// A connection's life as the worker times it, against scripted peers whose
// every step is timed by the same monotonic clock: each mark must land
// within 20 ms of the step that caused it.

#include "jsonlwriter.h"
#include "loopback.h"
#include "monotonicclock.h"
#include "runningproxy.h"
#include "timebreakdown.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

#include <cerrno>
#include <functional>
#include <sys/socket.h>
#include <thread>

using namespace Loopback;
using Kind = TimelineMark::Kind;
using Lane = TimelineMark::Lane;
using Reason = ConnectionRecord::CloseReason;

namespace {

constexpr qint64 ToleranceUs = 20'000;

void sleepUntil(qint64 monotonicUs)
{
    const qint64 left = monotonicUs - MonotonicClock::nowUs();
    if (left > 0)
        std::this_thread::sleep_for(std::chrono::microseconds(left));
}

// The times the scripted peers did things, monotonic µs.
struct Steps
{
    std::atomic<qint64> connected{0};
    std::atomic<qint64> sent{0};
    std::atomic<qint64> clientFin{0};
    std::atomic<qint64> clientReset{0};
    std::atomic<qint64> accepted{0};
    std::atomic<qint64> answered{0};
    std::atomic<qint64> upstreamFin{0};
    std::atomic<qint64> upstreamReset{0};
    std::atomic<qint64> upstreamReads{0};
    std::atomic<qint64> upstreamFreedRoom{0};
};

// The most a loopback send buffer grows to (tcp_wmem's maximum): the proxy's
// upstream socket turns writable again once about a third of it is free.
qsizetype largestSendBuffer()
{
    QFile file(QStringLiteral("/proc/sys/net/ipv4/tcp_wmem"));
    if (file.open(QIODevice::ReadOnly)) {
        const QList<QByteArray> fields = file.readAll().simplified().split(' ');
        if (fields.size() == 3 && fields[2].toLongLong() > 0)
            return qsizetype(fields[2].toLongLong());
    }
    return 4 * 1024 * 1024;
}

} // namespace

class tst_Timeline : public QObject
{
    Q_OBJECT
private slots:
    void halfCloseThenLateAnswer();
    void clientResetAfter100ms();
    void upstreamResetAfter100ms();
    void slowUpstreamIsAStall();
    void refusedConnectAndLookup();

private:
    static ProxyConfig configFor(const QString &targetHost, quint16 targetPort);
    // Runs the client's script (on another thread) against a proxy in
    // front of upstream, connected at steps.connected; the closed record.
    static ConnectionRecord relayOnce(quint16 upstreamPort, Steps &steps, const std::function<void(Socket &)> &client);
    // The mark of a kind on a lane is where the step put it (relative to
    // the client's connect), within the tolerance.
    static bool markNear(const ConnectionRecord &record, Kind kind, Lane lane, qint64 expectedUs, QString *why);
};

ProxyConfig tst_Timeline::configFor(const QString &targetHost, quint16 targetPort)
{
    ProxyConfig config;
    config.listenAddress = QHostAddress::LocalHost;
    config.listenPort = 0;
    config.targetHost = targetHost;
    config.targetPort = targetPort;
    config.stopGraceMs = 100;
    return config;
}

ConnectionRecord tst_Timeline::relayOnce(quint16 upstreamPort, Steps &steps, const std::function<void(Socket &)> &client)
{
    RunningProxy proxy;
    if (!proxy.start(configFor(QStringLiteral("127.0.0.1"), upstreamPort)))
        return ConnectionRecord();
    offThread([&] {
        Socket socket = connectTo("127.0.0.1", proxy.port());
        steps.connected = MonotonicClock::nowUs();
        client(socket);
    });
    return proxy.records.waitForOnlyClosed();
}

bool tst_Timeline::markNear(const ConnectionRecord &record, Kind kind, Lane lane, qint64 expectedUs, QString *why)
{
    const TimelineMark *mark = record.timeline.find(kind, lane);
    if (!mark) {
        *why = QStringLiteral("no %1 mark on the %2 lane").arg(TimelineMark::kindName(kind), TimelineMark::laneName(lane));
        return false;
    }
    if (qAbs(mark->atUs - expectedUs) > ToleranceUs) {
        *why = QStringLiteral("%1 on the %2 lane at %3 µs, expected %4 µs")
                   .arg(TimelineMark::kindName(kind), TimelineMark::laneName(lane))
                   .arg(mark->atUs)
                   .arg(expectedUs);
        return false;
    }
    return true;
}

#define VERIFY_MARK(record, kind, lane, expected)                                                                      \
    do {                                                                                                               \
        QString why;                                                                                                   \
        QVERIFY2(markNear(record, kind, lane, expected, &why), qPrintable(why));                                       \
    } while (false)

void tst_Timeline::halfCloseThenLateAnswer()
{
    // The lab's client: a request, FIN after 200 ms, read to the end. The
    // upstream answers 300 ms after it accepted and closes at 400 ms.
    Steps steps;
    ScriptedServer upstream([&](Socket &connection, int) {
        steps.accepted = MonotonicClock::nowUs();
        readExactly(connection.fd(), 4);
        sleepUntil(steps.accepted + 300'000);
        steps.answered = MonotonicClock::nowUs();
        sendAll(connection.fd(), "pong");
        readUntilEof(connection.fd());
        sleepUntil(steps.accepted + 400'000);
        steps.upstreamFin = MonotonicClock::nowUs();
        connection.shutdownWrite();
        readUntilEof(connection.fd());
    });
    QByteArray answer;
    const ConnectionRecord record = relayOnce(upstream.port(), steps, [&](Socket &client) {
        steps.sent = MonotonicClock::nowUs();
        sendAll(client.fd(), "ping");
        sleepUntil(steps.connected + 200'000);
        steps.clientFin = MonotonicClock::nowUs();
        client.shutdownWrite();
        answer = readUntilEof(client.fd());
    });
    QCOMPARE(answer, QByteArray("pong"));
    QCOMPARE(record.closeReason, Reason::ClientFin);
    const qint64 t0 = steps.connected;
    const QList<TimelineMark> &marks = record.timeline.marks;
    QVERIFY(!marks.isEmpty());
    QCOMPARE(marks.first().kind, Kind::Accepted);
    for (qsizetype i = 1; i < marks.size(); ++i)
        QVERIFY(marks.at(i - 1).atUs <= marks.at(i).atUs);
    VERIFY_MARK(record, Kind::Accepted, Lane::Client, 0);
    VERIFY_MARK(record, Kind::Connecting, Lane::Upstream, 0);
    VERIFY_MARK(record, Kind::Connected, Lane::Upstream, steps.accepted - t0);
    VERIFY_MARK(record, Kind::FirstByte, Lane::Client, steps.sent - t0);
    VERIFY_MARK(record, Kind::Fin, Lane::Client, steps.clientFin - t0);
    VERIFY_MARK(record, Kind::FinSent, Lane::Upstream, steps.clientFin - t0);
    VERIFY_MARK(record, Kind::FirstByte, Lane::Upstream, steps.answered - t0);
    VERIFY_MARK(record, Kind::Fin, Lane::Upstream, steps.upstreamFin - t0);
    VERIFY_MARK(record, Kind::FinSent, Lane::Client, steps.upstreamFin - t0);
    VERIFY_MARK(record, Kind::Closed, Lane::Connection, steps.upstreamFin - t0);
    QCOMPARE(record.timeline.find(Kind::Connected, Lane::Upstream)->note, record.upstreamAddress);
    QVERIFY(!record.timeline.find(Kind::Reset, Lane::Client) && !record.timeline.find(Kind::ResetSent, Lane::Upstream));
    // After the client's FIN the answer still came: the last byte down is
    // the answer's, 100 ms after the client stopped.
    QVERIFY(qAbs(record.timeline.lastByteUs[1] - (steps.answered - t0)) <= ToleranceUs);
    QVERIFY(qAbs(record.timeline.lastByteUs[0] - (steps.sent - t0)) <= ToleranceUs);

    // The breakdown: the upstream took 300 ms to answer the first byte.
    qint64 waitUs = -1;
    for (const TimeBreakdown::Part &part : TimeBreakdown::of(record)) {
        if (qstrcmp(part.key, "wait_ms") == 0)
            waitUs = part.us;
    }
    QVERIFY2(qAbs(waitUs - (steps.answered - steps.sent)) <= ToleranceUs, qPrintable(QString::number(waitUs)));

    // connection_closed carries the same marks, in ms with µs precision.
    const QJsonObject line = QJsonDocument::fromJson(JsonlWriter::closedLine(record)).object();
    const QJsonArray timeline = line.value(QLatin1String("timeline")).toArray();
    QCOMPARE(timeline.size(), marks.size());
    for (qsizetype i = 0; i < marks.size(); ++i) {
        const QJsonObject mark = timeline.at(i).toObject();
        QCOMPARE(mark.value(QLatin1String("mark")).toString(), TimelineMark::kindName(marks.at(i).kind));
        QCOMPARE(mark.value(QLatin1String("lane")).toString(), TimelineMark::laneName(marks.at(i).lane));
        QCOMPARE(qRound64(mark.value(QLatin1String("t")).toDouble() * 1000), marks.at(i).atUs);
    }
    const QJsonObject timing = line.value(QLatin1String("timing")).toObject();
    QCOMPARE(qRound64(timing.value(QLatin1String("wait_ms")).toDouble() * 1000), waitUs);
    QVERIFY(timing.contains(QLatin1String("connect_ms")));
    QVERIFY(!timing.contains(QLatin1String("dns_ms"))); // an address needs no lookup
}

void tst_Timeline::clientResetAfter100ms()
{
    Steps steps;
    int upstreamError = -1;
    ScriptedServer upstream([&](Socket &connection, int) { readUntilEof(connection.fd(), &upstreamError); });
    const ConnectionRecord record = relayOnce(upstream.port(), steps, [&](Socket &client) {
        sendAll(client.fd(), "x");
        sleepUntil(steps.connected + 100'000);
        steps.clientReset = MonotonicClock::nowUs();
        client.reset();
    });
    QCOMPARE(record.closeReason, Reason::ClientReset);
    const qint64 at = steps.clientReset - steps.connected;
    VERIFY_MARK(record, Kind::Reset, Lane::Client, at);
    VERIFY_MARK(record, Kind::ResetSent, Lane::Upstream, at);
    VERIFY_MARK(record, Kind::Closed, Lane::Connection, at);
    QCOMPARE(record.timeline.find(Kind::Reset, Lane::Client)->code, ECONNRESET);
    // A reset is passed on as one, not as a FIN.
    QVERIFY(!record.timeline.find(Kind::FinSent, Lane::Upstream));
    QVERIFY(!record.timeline.find(Kind::FinSent, Lane::Client));
}

void tst_Timeline::upstreamResetAfter100ms()
{
    Steps steps;
    ScriptedServer upstream([&](Socket &connection, int) {
        steps.accepted = MonotonicClock::nowUs();
        sleepUntil(steps.accepted + 100'000);
        steps.upstreamReset = MonotonicClock::nowUs();
        connection.reset();
    });
    int clientError = -1;
    const ConnectionRecord record = relayOnce(upstream.port(), steps, [&](Socket &client) {
        readUntilEof(client.fd(), &clientError);
    });
    QCOMPARE(clientError, ECONNRESET);
    QCOMPARE(record.closeReason, Reason::UpstreamReset);
    const qint64 at = steps.upstreamReset - steps.connected;
    VERIFY_MARK(record, Kind::Reset, Lane::Upstream, at);
    VERIFY_MARK(record, Kind::ResetSent, Lane::Client, at);
    VERIFY_MARK(record, Kind::Closed, Lane::Connection, at);
}

void tst_Timeline::slowUpstreamIsAStall()
{
    // The upstream reads nothing for 300 ms while the client sends far more
    // than the kernel's queues hold: proxymon waits on the upstream, and
    // the client's reads pause. The wait ends when the upstream's reading
    // has made room in proxymon's send buffer: after its first read, and by
    // the time it has read half the largest such buffer (the kernel wakes a
    // writer once a third is free). Both are timed, so a slow upstream on a
    // busy machine moves the expectation with it instead of the tolerance.
    const QByteArray data = randomBytes(16 * 1024 * 1024, 7);
    const qsizetype room = largestSendBuffer() / 2;
    Steps steps;
    QByteArray received;
    ScriptedServer upstream([&](Socket &connection, int) {
        steps.accepted = MonotonicClock::nowUs();
        received.reserve(data.size());
        sleepUntil(steps.accepted + 300'000);
        steps.upstreamReads = MonotonicClock::nowUs();
        char chunk[256 * 1024];
        for (;;) {
            const ssize_t n = ::recv(connection.fd(), chunk, sizeof chunk, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            received.append(chunk, n);
            if (received.size() >= room && !steps.upstreamFreedRoom)
                steps.upstreamFreedRoom = MonotonicClock::nowUs();
        }
    });
    const ConnectionRecord record = relayOnce(upstream.port(), steps, [&](Socket &client) {
        sendAll(client.fd(), data);
        client.shutdownWrite();
        readUntilEof(client.fd());
    });
    QCOMPARE(sha256(received), sha256(data));
    QVERIFY(steps.upstreamFreedRoom);
    const TimelineMark *stall = record.timeline.find(Kind::StallStart, Lane::Upstream);
    QVERIFY(stall);
    QVERIFY(stall->atUs < steps.upstreamReads - steps.connected);
    const TimelineMark *end = record.timeline.find(Kind::StallEnd, Lane::Upstream);
    QVERIFY(end);
    const qint64 earliest = steps.upstreamReads - steps.connected - ToleranceUs;
    const qint64 latest = steps.upstreamFreedRoom - steps.connected + ToleranceUs;
    QVERIFY2(end->atUs >= earliest && end->atUs <= latest,
             qPrintable(QStringLiteral("stall_end at %1 µs, expected %2 … %3 µs").arg(end->atUs).arg(earliest).arg(latest)));
    // All that waiting is counted up, not down.
    QVERIFY2(record.timeline.waitedUs[0] >= 250'000, qPrintable(QString::number(record.timeline.waitedUs[0])));
    QVERIFY(!record.timeline.find(Kind::StallStart, Lane::Client));
}

void tst_Timeline::refusedConnectAndLookup()
{
    RunningProxy proxy;
    const quint16 nothing = unusedPort();
    QVERIFY(proxy.start(configFor(QStringLiteral("127.0.0.1"), nothing)));
    offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        readUntilEof(client.fd());
    });
    ConnectionRecord record = proxy.records.waitForOnlyClosed();
    const TimelineMark *failed = record.timeline.find(Kind::ConnectFailed, Lane::Upstream);
    QVERIFY(failed);
    QCOMPARE(failed->code, ECONNREFUSED);
    QCOMPARE(failed->note, QStringLiteral("127.0.0.1:%1").arg(nothing));
    QVERIFY(record.timeline.find(Kind::FinSent, Lane::Client)); // the client got an orderly close
    QCOMPARE(record.timeline.marks.constLast().kind, Kind::Closed);
    proxy.server.stop();
    QTRY_VERIFY(!proxy.server.isDraining());
    proxy.records.clear();

    // A name: looked up on the resolver's thread, and the lookup timed.
    EchoServer echo;
    QVERIFY(proxy.start(configFor(QStringLiteral("localhost"), echo.port())));
    const QByteArray echoed = proxy.ask("hello", true);
    QCOMPARE(echoed, QByteArray("hello"));
    record = proxy.records.waitForOnlyClosed();
    const TimelineMark *resolved = record.timeline.find(Kind::Resolved, Lane::Upstream);
    QVERIFY(resolved);
    QVERIFY2(resolved->note.startsWith(QLatin1String("127.0.0.1")) || resolved->note.startsWith(QLatin1String("[::1]")),
             qPrintable(resolved->note));
    QVERIFY(record.timeline.resolveUs >= 0);
    QVERIFY(resolved->atUs <= record.timeline.timeOf(Kind::Connected, Lane::Upstream));
}

QTEST_GUILESS_MAIN(tst_Timeline)
#include "tst_timeline.moc"
