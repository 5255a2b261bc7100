#include "loopback.h"
#include "tcpleg.h"
#include "upstreamconnector.h"

#include <QTest>

#include <sys/socket.h>

#include <cerrno>

namespace {

SocketAddress loopbackAt(quint16 port)
{
    return SocketAddress::fromHostAddress(QHostAddress(QHostAddress::LocalHost), port);
}

// Drives the connector as a worker does, with poll() standing in for
// epoll: every attempt until one connects or none is left (bounded).
UpstreamConnector::Attempt reach(UpstreamConnector &connector, TcpLeg &leg, int *failures)
{
    using Result = UpstreamConnector::Result;
    UpstreamConnector::Attempt attempt = connector.next(leg);
    for (int step = 0; step < 100; ++step) {
        switch (attempt.result) {
        case Result::Failed:
            ++*failures;
            attempt = connector.next(leg);
            continue;
        case Result::InProgress: {
            const std::uint32_t events = Loopback::connectEvents(leg.descriptor(), 5000);
            if (events == 0)
                return attempt;
            attempt = connector.ready(leg, events);
            continue;
        }
        default:
            return attempt;
        }
    }
    return attempt;
}

} // namespace

// The upstream connector over real loopback sockets: each address in turn,
// what it says of each, and the time it kept.
class tst_UpstreamConnector : public QObject
{
    Q_OBJECT
private slots:
    void connectsToTheFirstAddressThatListens();
    void namesEveryAddressWhenNoneListens();
};

void tst_UpstreamConnector::connectsToTheFirstAddressThatListens()
{
    quint16 port = 0;
    Loopback::Socket server = Loopback::listenOn("127.0.0.1", 4, &port);
    const quint16 closed = Loopback::unusedPort();
    UpstreamConnector connector;
    connector.setAddresses({loopbackAt(closed), loopbackAt(port)});
    TcpLeg leg;
    int failures = 0;
    const UpstreamConnector::Attempt attempt = reach(connector, leg, &failures);
    QCOMPARE(attempt.result, UpstreamConnector::Result::Connected);
    QCOMPARE(failures, 1);
    QCOMPARE(connector.address(), QStringLiteral("127.0.0.1:%1").arg(port));
    QCOMPARE(connector.errors(), QStringLiteral("127.0.0.1:%1: Connection refused").arg(closed));
    // The leg is the connection the server accepts: bytes go through it.
    Loopback::Socket accepted(::accept4(server.fd(), nullptr, nullptr, SOCK_CLOEXEC));
    QVERIFY(accepted.isValid());
    Loopback::setTimeouts(accepted.fd(), 5000);
    QCOMPARE(leg.write("hello", 5), ssize_t(5));
    QCOMPARE(Loopback::readExactly(accepted.fd(), 5), QByteArray("hello"));
    // The clock ran from the first attempt, and stops once.
    QVERIFY(connector.stopClock(attempt.atUs) >= 0);
    QCOMPARE(connector.stopClock(attempt.atUs), qint64(-1));
    leg.close(false);
}

void tst_UpstreamConnector::namesEveryAddressWhenNoneListens()
{
    const quint16 first = Loopback::unusedPort();
    const quint16 second = Loopback::unusedPort();
    const int descriptors = Loopback::openDescriptorCount();
    UpstreamConnector connector;
    connector.setAddresses({loopbackAt(first), loopbackAt(second)});
    TcpLeg leg;
    int failures = 0;
    QCOMPARE(reach(connector, leg, &failures).result, UpstreamConnector::Result::Exhausted);
    QCOMPARE(failures, 2);
    QCOMPARE(connector.errors(), QStringLiteral("127.0.0.1:%1: Connection refused; 127.0.0.1:%2: Connection refused")
                                     .arg(first).arg(second));
    // Each failed attempt's socket was closed.
    QVERIFY(!leg.isOpen());
    QCOMPARE(Loopback::openDescriptorCount(), descriptors);
}

QTEST_GUILESS_MAIN(tst_UpstreamConnector)
#include "tst_upstreamconnector.moc"
