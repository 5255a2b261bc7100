#include "connectionlife.h"
#include "connectionrecord.h"
#include "connectiontls.h"
#include "loopback.h"
#include "monotonicclock.h"
#include "tcpleg.h"
#include "upstreamreach.h"

#include <QTest>

#include <sys/socket.h>

namespace {

using Next = UpstreamReach::Next;
using Kind = TimelineMark::Kind;

SocketAddress loopbackAt(quint16 port)
{
    return SocketAddress::fromHostAddress(QHostAddress(QHostAddress::LocalHost), port);
}

// A connection's share of the reaching: its record, life and upstream
// leg, and the reach over them, driven as the connection drives it with
// poll() standing in for epoll.
struct Reaching
{
    ConnectionRecord record;
    ConnectionLife life{record, 1};
    TcpLeg leg;
    ConnectionTls tls{record, life, nullptr, nullptr};
    UpstreamReach reach{leg, life, record, tls};

    // Follows the outcomes (bounded) until one asks for more than a
    // socket's events.
    UpstreamReach::Outcome follow(UpstreamReach::Outcome outcome)
    {
        for (int step = 0; step < 100 && outcome.next == Next::Watch; ++step) {
            const std::uint32_t events = Loopback::connectEvents(leg.descriptor(), 5000);
            if (events == 0)
                return outcome;
            outcome = reach.ready(events);
            if (outcome.next == Next::Wait)
                outcome.next = Next::Watch; // nothing yet: keep watching
        }
        return outcome;
    }
    // A reach of record.upstream's name begun, its lookup answered with
    // addresses.
    UpstreamReach::Outcome lookedUp(std::vector<SocketAddress> addresses)
    {
        const QString host = record.upstream.section(u':', 0, 0);
        if (reach.start(host, 1, false, MonotonicClock::nowUs()).next != Next::LookUp)
            return UpstreamReach::Outcome();
        return reach.resolved({std::move(addresses), QString()});
    }
    int count(Kind kind) const
    {
        int n = 0;
        for (const TimelineMark &mark : record.timeline.marks)
            n += mark.kind == kind && mark.lane == TimelineMark::Lane::Upstream;
        return n;
    }
};

} // namespace

// The way to an upstream over real loopback sockets: what each step says
// to do next, what it marks and what it writes in the record.
class tst_UpstreamReach : public QObject
{
    Q_OBJECT
private slots:
    void holdsTheFirstConnectOnly();
    void triesEachAddressUntilOneConnects();
    void namesEveryAddressWhenNoneListens();
    void aNameIsLookedUpAndItsFailureSaid();
};

void tst_UpstreamReach::holdsTheFirstConnectOnly()
{
    Reaching reaching;
    reaching.reach.holdFirstConnect(30'000);
    const qint64 now = MonotonicClock::nowUs();
    UpstreamReach::Outcome outcome = reaching.reach.start(QStringLiteral("127.0.0.1"), 8080, true, now);
    QCOMPARE(outcome.next, Next::Wait);
    QCOMPARE(outcome.heldUntilUs, now + 30'000);
    QVERIFY(reaching.reach.resolution().addresses.empty()); // nothing resolved yet
    // The hold over: an address literal needs no lookup, and gets no mark.
    outcome = reaching.reach.holdOver(now + 30'000);
    QCOMPARE(outcome.next, Next::Resolved);
    QCOMPARE(reaching.reach.resolution().addresses.size(), size_t(1));
    QCOMPARE(reaching.reach.tlsHost(), QStringLiteral("127.0.0.1"));
    QCOMPARE(reaching.count(Kind::Resolved), 0);
    // The next upstream goes at once.
    outcome = reaching.reach.start(QStringLiteral("127.0.0.1"), 8081, false, now);
    QCOMPARE(outcome.next, Next::Resolved);
    QCOMPARE(outcome.heldUntilUs, qint64(-1));
    QVERIFY(reaching.reach.tlsHost().isEmpty());
}

void tst_UpstreamReach::triesEachAddressUntilOneConnects()
{
    quint16 port = 0;
    Loopback::Socket server = Loopback::listenOn("127.0.0.1", 4, &port);
    const quint16 closed = Loopback::unusedPort();
    Reaching reaching;
    reaching.record.upstream = QStringLiteral("upstream.test:%1").arg(port);
    QCOMPARE(reaching.lookedUp({loopbackAt(closed), loopbackAt(port)}).next, Next::Resolved);
    const UpstreamReach::Outcome outcome = reaching.follow(reaching.reach.connect());
    QCOMPARE(outcome.next, Next::Connected);
    QCOMPARE(reaching.count(Kind::Resolved), 1);
    QCOMPARE(reaching.record.upstreamAddress, QStringLiteral("127.0.0.1:%1").arg(port));
    QCOMPARE(reaching.count(Kind::Connecting), 2);
    QCOMPARE(reaching.count(Kind::ConnectFailed), 1);
    QCOMPARE(reaching.count(Kind::Connected), 1);
    QVERIFY(reaching.record.timeline.connectUs >= 0);
    // The leg is the connection the server accepts.
    Loopback::Socket accepted(::accept4(server.fd(), nullptr, nullptr, SOCK_CLOEXEC));
    QVERIFY(accepted.isValid());
    QCOMPARE(reaching.leg.write("hi", 2), ssize_t(2));
    // Reached, it keeps nothing of the attempts: a timeout from here on
    // (the upstream's TLS handshake) names no failed address.
    const QString why = reaching.reach.timedOut(1000, true);
    QCOMPARE(why, QStringLiteral("connecting to upstream.test:%1 timed out after 1000 ms").arg(port));
}

void tst_UpstreamReach::namesEveryAddressWhenNoneListens()
{
    const quint16 first = Loopback::unusedPort();
    const quint16 second = Loopback::unusedPort();
    Reaching reaching;
    reaching.record.upstream = QStringLiteral("nowhere.test:1");
    QCOMPARE(reaching.lookedUp({loopbackAt(first), loopbackAt(second)}).next, Next::Resolved);
    const UpstreamReach::Outcome outcome = reaching.follow(reaching.reach.connect());
    QCOMPARE(outcome.next, Next::Failed);
    QVERIFY(!outcome.outOfDescriptors);
    QVERIFY2(outcome.why.startsWith(QStringLiteral("connecting to nowhere.test:1 failed: ")), qPrintable(outcome.why));
    QVERIFY2(outcome.why.contains(QStringLiteral("127.0.0.1:%1: Connection refused").arg(first)), qPrintable(outcome.why));
    QVERIFY2(outcome.why.contains(QStringLiteral("127.0.0.1:%1: Connection refused").arg(second)), qPrintable(outcome.why));
    QCOMPARE(reaching.count(Kind::ConnectFailed), 2);
    QVERIFY(reaching.record.upstreamAddress.isEmpty());
}

void tst_UpstreamReach::aNameIsLookedUpAndItsFailureSaid()
{
    Reaching reaching;
    UpstreamReach::Outcome outcome = reaching.reach.start(QStringLiteral("upstream.example"), 443, false, MonotonicClock::nowUs());
    QCOMPARE(outcome.next, Next::LookUp);
    QCOMPARE(reaching.reach.host(), QStringLiteral("upstream.example"));
    QCOMPARE(reaching.reach.port(), quint16(443));
    outcome = reaching.reach.resolved({{}, QStringLiteral("upstream.example: Name or service not known")});
    QCOMPARE(outcome.next, Next::Failed);
    QCOMPARE(outcome.why, QStringLiteral("upstream.example: Name or service not known"));
    QCOMPARE(reaching.count(Kind::Resolved), 1);
    QVERIFY(reaching.record.timeline.resolveUs >= 0);
}

QTEST_GUILESS_MAIN(tst_UpstreamReach)
#include "tst_upstreamreach.moc"
