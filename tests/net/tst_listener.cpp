#include "listener.h"
#include "loopback.h"

#include <QTest>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

// The accepting socket on the window's thread: what it takes per turn of
// the event loop, checked against a real backlog of loopback connections.
class tst_Listener : public QObject
{
    Q_OBJECT
private slots:
    void aBurstIsTakenOverSeveralTurns();
    void clientsComingOneByOneAreNeverHeld();
    void pausedTakesNothing();
    void thePeersAddressComesWithTheDescriptor();

private:
    // A listener over a fresh loopback socket with room for backlog
    // waiting connections.
    static bool adopt(Listener &listener, int backlog, quint16 *port);
    // Closes each descriptor the listener hands over, counting it.
    static void countAccepted(Listener &listener, int *accepted);
};

bool tst_Listener::adopt(Listener &listener, int backlog, quint16 *port)
{
    Loopback::Socket socket = Loopback::listenOn("127.0.0.1", backlog, port);
    if (!socket.isValid())
        return false;
    const int fd = socket.release();
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (listener.adoptListeningSocket(fd))
        return true;
    ::close(fd);
    return false;
}

void tst_Listener::countAccepted(Listener &listener, int *accepted)
{
    connect(&listener, &Listener::descriptorAccepted, &listener, [accepted](qintptr descriptor) {
        ::close(int(descriptor));
        ++*accepted;
    });
}

void tst_Listener::aBurstIsTakenOverSeveralTurns()
{
    // 300 clients complete their handshakes before the event loop runs:
    // one turn takes at most 128 of them, so whatever else waits on the
    // window's thread (paints, batches) comes between.
    constexpr int Clients = 300;
    Listener listener;
    quint16 port = 0;
    QVERIFY(adopt(listener, 1024, &port));
    int accepted = 0;
    countAccepted(listener, &accepted);
    // Each wake-up's share is announced as done, for the owner to hand on
    // together (ProxyServer gives it to one worker).
    QList<int> shares;
    int announced = 0;
    connect(&listener, &Listener::wakeUpDone, this, [&] {
        shares.append(accepted - announced);
        announced = accepted;
    });
    std::vector<Loopback::Socket> clients;
    for (int i = 0; i < Clients; ++i) {
        clients.push_back(Loopback::connectTo("127.0.0.1", port));
        QVERIFY(clients.back().isValid());
    }
    QCoreApplication::processEvents();
    QCOMPARE(accepted, 128);
    QCOMPARE(shares, QList<int>({128}));
    QTRY_COMPARE_WITH_TIMEOUT(accepted, Clients, 5000);
    QCOMPARE(shares, QList<int>({128, 128, 44}));
}

void tst_Listener::clientsComingOneByOneAreNeverHeld()
{
    // A client that connects again only once its last connection was
    // taken (and answered) comes under 2 ms apart, yet alone: each is
    // accepted on the next turn of the loop, with no rest between
    // (resting, the listener would look again a millisecond later only).
    constexpr int Clients = 50;
    Listener listener;
    quint16 port = 0;
    QVERIFY(adopt(listener, 64, &port));
    int accepted = 0;
    countAccepted(listener, &accepted);
    std::vector<Loopback::Socket> clients;
    for (int i = 0; i < Clients; ++i) {
        clients.push_back(Loopback::connectTo("127.0.0.1", port));
        QVERIFY(clients.back().isValid());
        QCoreApplication::processEvents();
        QCOMPARE(accepted, i + 1);
    }
}

void tst_Listener::pausedTakesNothing()
{
    // The owner's pause (a connection limit) holds against the listener's
    // own resting between batches: connections wait in the backlog.
    Listener listener;
    quint16 port = 0;
    QVERIFY(adopt(listener, 64, &port));
    int accepted = 0;
    countAccepted(listener, &accepted);
    listener.pause();
    std::vector<Loopback::Socket> clients;
    for (int i = 0; i < 10; ++i)
        clients.push_back(Loopback::connectTo("127.0.0.1", port));
    QTest::qWait(100);
    QCOMPARE(accepted, 0);
    listener.resume();
    QTRY_COMPARE_WITH_TIMEOUT(accepted, 10, 5000);
}

void tst_Listener::thePeersAddressComesWithTheDescriptor()
{
    // accept4() says who connected: the worker needs no getpeername().
    Listener listener;
    quint16 port = 0;
    QVERIFY(adopt(listener, 16, &port));
    QString peer;
    QString asked;
    connect(&listener, &Listener::descriptorAccepted, &listener, [&](qintptr descriptor, const SocketAddress &address) {
        peer = address.toString();
        SocketAddress known;
        known.length = sizeof known.storage;
        if (::getpeername(int(descriptor), reinterpret_cast<sockaddr *>(&known.storage), &known.length) == 0)
            asked = known.toString();
        ::close(int(descriptor));
    });
    Loopback::Socket client = Loopback::connectTo("127.0.0.1", port);
    QTRY_VERIFY_WITH_TIMEOUT(!peer.isEmpty(), 5000);
    QVERIFY2(peer.startsWith(QLatin1String("127.0.0.1:")), qPrintable(peer));
    QCOMPARE(peer, asked);
}

QTEST_GUILESS_MAIN(tst_Listener)
#include "tst_listener.moc"
