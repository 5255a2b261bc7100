// The HTTP proxy's parked upstreams, with real loopback connections: what
// comes back out is usable, and what the server gave up on is not.

#include "loopback.h"
#include "upstreampark.h"

#include <QTest>

#include <fcntl.h>
#include <sys/socket.h>

using namespace Loopback;

namespace {

// A connected pair on loopback: the proxy's end (released to the park) and
// the server's end.
struct Pair
{
    int proxySide = -1;
    Socket serverSide;
};

Pair connectedPair(Socket &listener, quint16 port)
{
    Pair pair;
    Socket client = connectTo("127.0.0.1", port);
    pair.serverSide = Socket(::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC));
    pair.proxySide = client.release();
    return pair;
}

bool isOpen(int fd)
{
    return ::fcntl(fd, F_GETFD) != -1;
}

HttpProxyFront::Route route(const char *host, quint16 port)
{
    return {QString::fromLatin1(host), port};
}

} // namespace

class tst_UpstreamPark : public QObject
{
    Q_OBJECT

private slots:
    void takesBackAnIdleConnection();
    void serverClosedOrSpokeIsNotUsable();
    void oldestGoesWhenFull();
};

void tst_UpstreamPark::takesBackAnIdleConnection()
{
    quint16 port = 0;
    Socket listener = listenOn("127.0.0.1", 8, &port);
    Pair pair = connectedPair(listener, port);
    UpstreamPark park;
    park.park({route("a.test", 80), pair.proxySide, QStringLiteral("127.0.0.1:%1").arg(port)});
    QCOMPARE(park.take(route("b.test", 80)).fd, -1);
    QCOMPARE(park.take(route("a.test", 81)).fd, -1);
    const UpstreamPark::Entry entry = park.take(route("a.test", 80));
    QCOMPARE(entry.fd, pair.proxySide);
    QCOMPARE(entry.address, QStringLiteral("127.0.0.1:%1").arg(port));
    QCOMPARE(park.size(), size_t(0));
    // Still a working connection.
    QVERIFY(sendAll(entry.fd, "ping"));
    QCOMPARE(readExactly(pair.serverSide.fd(), 4), QByteArray("ping"));
    Socket owned(entry.fd);
}

void tst_UpstreamPark::serverClosedOrSpokeIsNotUsable()
{
    quint16 port = 0;
    Socket listener = listenOn("127.0.0.1", 8, &port);
    Pair closed = connectedPair(listener, port);
    Pair spoke = connectedPair(listener, port);
    UpstreamPark park;
    park.park({route("closed.test", 80), closed.proxySide, QString()});
    park.park({route("spoke.test", 80), spoke.proxySide, QString()});
    closed.serverSide.close();
    QVERIFY(sendAll(spoke.serverSide.fd(), "HTTP/1.1 408 Request Timeout\r\n\r\n"));
    QTest::qWait(50);
    QCOMPARE(park.take(route("closed.test", 80)).fd, -1);
    QVERIFY(!isOpen(closed.proxySide));
    QCOMPARE(park.take(route("spoke.test", 80)).fd, -1);
    QVERIFY(!isOpen(spoke.proxySide));
}

void tst_UpstreamPark::oldestGoesWhenFull()
{
    quint16 port = 0;
    Socket listener = listenOn("127.0.0.1", 8, &port);
    Pair first = connectedPair(listener, port);
    Pair second = connectedPair(listener, port);
    Pair third = connectedPair(listener, port);
    {
        UpstreamPark park(2);
        park.park({route("one.test", 80), first.proxySide, QString()});
        park.park({route("two.test", 80), second.proxySide, QString()});
        park.park({route("three.test", 80), third.proxySide, QString()});
        QCOMPARE(park.size(), size_t(2));
        QVERIFY(!isOpen(first.proxySide));
        QCOMPARE(park.take(route("one.test", 80)).fd, -1);
        QVERIFY(isOpen(second.proxySide) && isOpen(third.proxySide));
    }
    // The park closes what it still holds when it goes.
    QVERIFY(!isOpen(second.proxySide));
    QVERIFY(!isOpen(third.proxySide));
}

QTEST_GUILESS_MAIN(tst_UpstreamPark)
#include "tst_upstreampark.moc"
