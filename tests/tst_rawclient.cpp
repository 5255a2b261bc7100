#include "loopback.h"
#include "rawclient.h"

#include <QSignalSpy>
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
    client.connectTo(QStringLiteral("not-an-address"), 80);
    QCOMPARE(client.state(), RawClient::State::Closed);
    QCOMPARE(client.why(), QStringLiteral("'not-an-address:80' is not an IP address and port"));
}

QTEST_GUILESS_MAIN(tst_RawClient)
#include "tst_rawclient.moc"
