#include "legpair.h"

#include <QTest>

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

// The plain TCP leg: what the flows above rely on, checked on real
// loopback connections.
class tst_TcpLeg : public QObject
{
    Q_OBJECT
private slots:
    void readSaysWhenDrained();
    void peekLeavesTheBytes();
    void urgentDataStaysInTheStream();
    void shutdownWritePassesFinOnly();
    void closeWithResetSendsReset();
    void pendingErrorNamesThePeersReset();
    void unacknowledgedCountsBytesThePeerHasNotTaken();
    void splicesThroughAPipe();
    void detachKeepsTheConnection();
};

void tst_TcpLeg::readSaysWhenDrained()
{
    LegPair pair;
    QVERIFY(Loopback::sendAll(pair.peer.fd(), "hello"));
    QVERIFY(pair.waitFor(POLLIN));
    char buffer[64];
    bool drained = false;
    QCOMPARE(pair.leg.read(buffer, sizeof buffer, &drained), ssize_t(5));
    QVERIFY(drained); // nothing else queued: no EAGAIN round needed

    // More than one read's worth: the first read says more is there.
    const QByteArray big = Loopback::randomBytes(200'000, 1);
    QVERIFY(Loopback::sendAll(pair.peer.fd(), big));
    QTRY_VERIFY_WITH_TIMEOUT([&] {
        int queued = 0;
        ioctl(pair.leg.descriptor(), FIONREAD, &queued);
        return queued >= 100'000;
    }(), 5000);
    QCOMPARE(pair.leg.read(buffer, sizeof buffer, &drained), ssize_t(sizeof buffer));
    QVERIFY(!drained);

    // The peer's FIN reads as 0, once the data before it is read.
    pair.peer.shutdownWrite();
    QByteArray rest(big.size(), Qt::Uninitialized);
    qsizetype got = 0;
    QElapsedTimer clock;
    clock.start();
    for (;;) {
        QVERIFY(clock.elapsed() < 5000);
        const ssize_t n = pair.leg.read(rest.data() + got, size_t(rest.size() - got), &drained);
        if (n == 0)
            break;
        if (n < 0) {
            QCOMPARE(errno, EAGAIN);
            pair.waitFor(POLLIN | POLLRDHUP, 100);
            continue;
        }
        got += n;
    }
    QCOMPARE(got, big.size() - qsizetype(sizeof buffer));
    QCOMPARE(rest.left(got), big.mid(sizeof buffer));
}

void tst_TcpLeg::peekLeavesTheBytes()
{
    LegPair pair;
    QVERIFY(Loopback::sendAll(pair.peer.fd(), "abcdef"));
    QVERIFY(pair.waitFor(POLLIN));
    char seen[4];
    QCOMPARE(pair.leg.peek(seen, sizeof seen), ssize_t(4));
    QCOMPARE(QByteArray(seen, 4), QByteArray("abcd"));
    char read[16];
    bool drained = false;
    QCOMPARE(pair.leg.read(read, sizeof read, &drained), ssize_t(6));
    QCOMPARE(QByteArray(read, 6), QByteArray("abcdef"));
}

void tst_TcpLeg::urgentDataStaysInTheStream()
{
    // recv() stops at the urgent mark and would drop the urgent byte
    // without SO_OOBINLINE: the leg must read all of it, in order.
    LegPair pair;
    QVERIFY(Loopback::sendAll(pair.peer.fd(), "ab"));
    QCOMPARE(::send(pair.peer.fd(), "c", 1, MSG_OOB), ssize_t(1));
    QVERIFY(Loopback::sendAll(pair.peer.fd(), "de"));
    pair.peer.shutdownWrite();
    QByteArray got;
    QElapsedTimer clock;
    clock.start();
    for (;;) {
        QVERIFY(clock.elapsed() < 5000);
        char buffer[16];
        bool drained = false;
        const ssize_t n = pair.leg.read(buffer, sizeof buffer, &drained);
        if (n == 0)
            break;
        if (n < 0) {
            pair.waitFor(POLLIN | POLLRDHUP, 100);
            continue;
        }
        got.append(buffer, n);
    }
    QCOMPARE(got, QByteArray("abcde"));
}

void tst_TcpLeg::shutdownWritePassesFinOnly()
{
    LegPair pair;
    QCOMPARE(pair.leg.write("x", 1), ssize_t(1));
    pair.leg.shutdownWrite();
    int error = -1;
    QCOMPARE(Loopback::readUntilEof(pair.peer.fd(), &error), QByteArray("x"));
    QCOMPARE(error, 0);
    // The other direction still flows.
    QVERIFY(Loopback::sendAll(pair.peer.fd(), "back"));
    QVERIFY(pair.waitFor(POLLIN));
    char buffer[8];
    bool drained = false;
    QCOMPARE(pair.leg.read(buffer, sizeof buffer, &drained), ssize_t(4));
}

void tst_TcpLeg::closeWithResetSendsReset()
{
    LegPair pair;
    pair.leg.close(true);
    QVERIFY(!pair.leg.isOpen());
    int error = 0;
    Loopback::readUntilEof(pair.peer.fd(), &error);
    QCOMPARE(error, ECONNRESET);
}

void tst_TcpLeg::pendingErrorNamesThePeersReset()
{
    LegPair pair;
    QCOMPARE(pair.leg.pendingError(), 0);
    pair.peer.reset();
    QVERIFY(pair.waitFor(POLLIN | POLLERR));
    QCOMPARE(pair.leg.pendingError(), ECONNRESET);
}

void tst_TcpLeg::unacknowledgedCountsBytesThePeerHasNotTaken()
{
    LegPair pair;
    QCOMPARE(pair.leg.unacknowledged(), 0);
    // The peer reads nothing: once its window is full, what the leg wrote
    // waits unacknowledged in the leg's send queue.
    const QByteArray chunk(65536, 'z');
    QElapsedTimer clock;
    clock.start();
    while (pair.leg.write(chunk.constData(), size_t(chunk.size())) > 0)
        QVERIFY(clock.elapsed() < 5000);
    QCOMPARE(errno, EAGAIN);
    QTRY_VERIFY_WITH_TIMEOUT(pair.leg.unacknowledged() > 0, 5000);
}

void tst_TcpLeg::splicesThroughAPipe()
{
    LegPair from;
    LegPair to;
    QVERIFY(from.leg.canSplice() && to.leg.canSplice());
    int ends[2];
    QCOMPARE(pipe2(ends, O_NONBLOCK | O_CLOEXEC), 0);
    const QByteArray data = Loopback::randomBytes(30'000, 2);
    QVERIFY(Loopback::sendAll(from.peer.fd(), data));
    from.peer.shutdownWrite();
    qsizetype moved = 0;
    QElapsedTimer clock;
    clock.start();
    for (;;) {
        QVERIFY(clock.elapsed() < 5000);
        const ssize_t in = from.leg.readToPipe(ends[1], 65536);
        if (in == 0)
            break;
        if (in < 0) {
            from.waitFor(POLLIN | POLLRDHUP, 100);
            continue;
        }
        for (ssize_t left = in; left > 0;) {
            const ssize_t out = to.leg.writeFromPipe(ends[0], size_t(left));
            QVERIFY(out > 0);
            left -= out;
        }
        moved += in;
    }
    ::close(ends[0]);
    ::close(ends[1]);
    QCOMPARE(moved, data.size());
    to.leg.shutdownWrite();
    QCOMPARE(Loopback::readUntilEof(to.peer.fd()), data);
}

void tst_TcpLeg::detachKeepsTheConnection()
{
    LegPair pair;
    const int fd = pair.leg.detach();
    QVERIFY(fd >= 0);
    QVERIFY(!pair.leg.isOpen());
    pair.leg.close(true); // a closed leg has nothing to close
    TcpLeg again(fd);
    QCOMPARE(again.write("still here", 10), ssize_t(10));
    again.close(false);
    QCOMPARE(Loopback::readUntilEof(pair.peer.fd()), QByteArray("still here"));
}

QTEST_GUILESS_MAIN(tst_TcpLeg)
#include "tst_tcpleg.moc"
