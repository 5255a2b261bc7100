#include "loopback.h"
#include "rawclient.h"

#include <QSignalSpy>
#include <QFile>
#include <QTest>

#include <sys/socket.h>

using namespace Loopback;

// The raw client against real loopback servers: what it sends arrives,
// what comes back is reported, and each way a connection can end is named.
class tst_RawClient : public QObject
{
    Q_OBJECT

private slots:
    void echoThenHalfClose();
    void peerClosesFirst();
    void resetByPeer();
    void resetByUs();
    void refused();
    void badAddress();
    void hostNameIsLookedUp();
};

void tst_RawClient::echoThenHalfClose()
{
    EchoServer echo;
    RawClient client;
    QByteArray received;
    connect(&client, &RawClient::received, this, [&](const QByteArray &bytes) { received += bytes; });
    client.connectTo(QStringLiteral("127.0.0.1"), echo.port());
    client.send("GET / HTTP/1.1\nHost: www.google.com\n\n"); // queued while connecting
    QTRY_COMPARE(client.state(), RawClient::State::Open);
    QTRY_COMPARE(received, QByteArray("GET / HTTP/1.1\nHost: www.google.com\n\n"));
    client.send(QByteArray(200'000, 'x'));
    client.shutdownWrite();
    // The echo server sends everything back, then closes: EOF after our FIN.
    QTRY_COMPARE(client.state(), RawClient::State::Closed);
    QCOMPARE(client.why(), QStringLiteral("both sides closed (EOF after your half-close)"));
    QCOMPARE(received.size(), 37 + 200'000);
    QCOMPARE(client.bytesSent(), quint64(37 + 200'000));
}

void tst_RawClient::peerClosesFirst()
{
    ScriptedServer server([](Socket &connection, int) { sendAll(connection.fd(), "bye"); });
    RawClient client;
    QByteArray received;
    connect(&client, &RawClient::received, this, [&](const QByteArray &bytes) { received += bytes; });
    client.connectTo(QStringLiteral("127.0.0.1"), server.port());
    QTRY_COMPARE(client.state(), RawClient::State::PeerShut);
    QCOMPARE(received, QByteArray("bye"));
    client.shutdownWrite();
    QCOMPARE(client.state(), RawClient::State::Closed);
    QCOMPARE(client.why(), QStringLiteral("both sides closed"));
}

void tst_RawClient::resetByPeer()
{
    ScriptedServer server([](Socket &connection, int) {
        char byte;
        ::recv(connection.fd(), &byte, 1, 0);
        connection.reset();
    });
    RawClient client;
    client.connectTo(QStringLiteral("127.0.0.1"), server.port());
    client.send("x");
    QTRY_COMPARE(client.state(), RawClient::State::Closed);
    QCOMPARE(client.why(), QStringLiteral("reset by the peer"));
}

void tst_RawClient::resetByUs()
{
    int error = -1;
    std::atomic<bool> done{false};
    ScriptedServer server([&](Socket &connection, int) {
        readUntilEof(connection.fd(), &error);
        done = true;
    });
    RawClient client;
    client.connectTo(QStringLiteral("127.0.0.1"), server.port());
    QTRY_COMPARE(client.state(), RawClient::State::Open);
    client.reset();
    QCOMPARE(client.why(), QStringLiteral("reset by you"));
    QTRY_VERIFY(done.load());
    QCOMPARE(error, ECONNRESET);
}

void tst_RawClient::refused()
{
    RawClient client;
    client.connectTo(QStringLiteral("127.0.0.1"), unusedPort());
    QTRY_COMPARE(client.state(), RawClient::State::Closed);
    QCOMPARE(client.why(), QStringLiteral("connect failed: connection refused"));
}

void tst_RawClient::badAddress()
{
    RawClient client;
    client.connectTo(QStringLiteral("not-an-address.invalid"), 80);
    QCOMPARE(client.state(), RawClient::State::Closed);
    QCOMPARE(client.why(), QStringLiteral("cannot resolve 'not-an-address.invalid': no such host"));
    client.connectTo(QStringLiteral("127.0.0.1"), 0);
    QCOMPARE(client.state(), RawClient::State::Closed);
    QVERIFY(client.why().contains(QStringLiteral("port")));
}

void tst_RawClient::hostNameIsLookedUp()
{
    // A name this machine's hosts file maps to loopback, so that the
    // lookup asks no server and the connection stays on loopback.
    QString name;
    QFile hosts(QStringLiteral("/etc/hosts"));
    if (hosts.open(QIODevice::ReadOnly)) {
        for (const QByteArray &line : hosts.readAll().split('\n')) {
            const QList<QByteArray> fields = line.simplified().split(' ');
            if (fields.size() >= 2 && fields[0] == "127.0.0.1" && fields[1] != "localhost") {
                name = QString::fromLatin1(fields[1]);
                break;
            }
        }
    }
    if (name.isEmpty())
        QSKIP("no name other than localhost maps to 127.0.0.1 in /etc/hosts");
    EchoServer echo;
    RawClient client;
    QByteArray got;
    connect(&client, &RawClient::received, this, [&](const QByteArray &bytes) { got += bytes; });
    client.connectTo(name, echo.port());
    // Sent and shut down while the name is still being looked up.
    client.send("hello by name");
    client.shutdownWrite();
    QTRY_COMPARE_WITH_TIMEOUT(client.state(), RawClient::State::Closed, 10'000);
    QCOMPARE(got, QByteArray("hello by name"));
    QVERIFY2(client.why().contains(QStringLiteral("both sides closed")), qPrintable(client.why()));
}

QTEST_GUILESS_MAIN(tst_RawClient)
#include "tst_rawclient.moc"
