#include "certificateauthority.h"
#include "loopback.h"
#include "runningproxy.h"
#include "tlstestserver.h"

#include <QFile>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

using namespace Loopback;
using Reason = ConnectionRecord::CloseReason;

using Behaviour = TlsTestServer::Behaviour;

// --target tls:HOST:PORT: plain clients, a TLS upstream with a certificate
// from a test authority, and proxymon in between showing the plaintext.
class tst_TlsTarget : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void labFlowThroughTls();
    void httpExchangeIsSeen();
    void badCertificatesAnswer502_data();
    void badCertificatesAnswer502();
    void insecureRelaysAnyway();
    void silentServerTimesOutWith504();
    void notHttpIsClosedNotAnswered();
    void unusableCaFileStopsTheStart();
    void keyLogHoldsTheSessionsSecrets();

private:
    // A TLS server on loopback serving with a leaf for names.
    std::unique_ptr<TlsTestServer> tlsServer(Behaviour behaviour, const QStringList &names)
    {
        return std::make_unique<TlsTestServer>(*m_authority, behaviour, names);
    }
    ProxyConfig configFor(const QString &target, bool trustTestCa) const;

    QTemporaryDir m_directory;
    std::unique_ptr<CertificateAuthority> m_authority;
};

void tst_TlsTarget::initTestCase()
{
    QString error;
    m_authority = CertificateAuthority::open(m_directory.path(), &error);
    QVERIFY2(m_authority, qPrintable(error));
}

ProxyConfig tst_TlsTarget::configFor(const QString &target, bool trustTestCa) const
{
    ProxyConfig config;
    config.listenAddress = QHostAddress::LocalHost;
    QString error;
    if (!config.setTarget(target, &error))
        qWarning() << error;
    if (trustTestCa)
        config.upstreamCaFile = m_authority->certificatePath();
    config.stopGraceMs = 100;
    return config;
}

void tst_TlsTarget::labFlowThroughTls()
{
    // The lab's client: send everything, shut down writing, read to EOF;
    // through TLS the FIN travels as close_notify and comes back as one.
    const auto upstream = tlsServer(Behaviour::Echo, {QStringLiteral("127.0.0.1")});
    RunningProxy proxy;
    QVERIFY(proxy.start(configFor(QStringLiteral("tls:127.0.0.1:%1").arg(upstream->port()), true)));
    QCOMPARE(proxy.server.config().targetText(), QStringLiteral("tls:127.0.0.1:%1").arg(upstream->port()));
    const QByteArray data = randomBytes(4 * 1024 * 1024 + 3, 11);
    const QByteArray echoed = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        std::thread writer([&] {
            sendAll(client.fd(), data);
            client.shutdownWrite();
        });
        const QByteArray received = readUntilEof(client.fd());
        writer.join();
        return received;
    });
    QCOMPARE(echoed.size(), data.size());
    QCOMPARE(sha256(echoed), sha256(data));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QVERIFY2(record.upstreamTls().summary().startsWith(QStringLiteral("TLSv1.3 ")), qPrintable(record.upstreamTls().summary()));
    QCOMPARE(record.closeReason, Reason::ClientFin);
    // Up, toward the TLS upstream, counts what crossed the wire: the data
    // in proxy.records, with the handshake and each record's overhead (a few
    // dozen bytes per 16 KiB); down, toward the plain client, the data.
    QVERIFY2(record.bytesUp > quint64(data.size()) && record.bytesUp < quint64(data.size()) * 101 / 100 + 8192,
             qPrintable(QString::number(record.bytesUp)));
    QCOMPARE(record.bytesDown, quint64(data.size()));
    QVERIFY(record.error.isEmpty());
}

void tst_TlsTarget::httpExchangeIsSeen()
{
    const auto upstream = tlsServer(Behaviour::Hello, {QStringLiteral("127.0.0.1")});
    RunningProxy proxy;
    QVERIFY(proxy.start(configFor(QStringLiteral("tls:127.0.0.1:%1").arg(upstream->port()), true)));
    const QByteArray reply = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        sendAll(client.fd(), "GET /inside HTTP/1.1\r\nHost: api.example.test\r\n\r\n");
        return readExactly(client.fd(), 43);
    });
    QCOMPARE(reply, QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
    // What crossed the wire encrypted shows as HTTP.
    QVERIFY(proxy.records.waitForExchanges(1));
    const HttpExchange &exchange = proxy.records.exchanges().first();
    QCOMPARE(exchange.request.target(), QByteArrayView("/inside"));
    QCOMPARE(exchange.response.status, 200);
}

void tst_TlsTarget::badCertificatesAnswer502_data()
{
    QTest::addColumn<QString>("host");
    QTest::addColumn<bool>("trust");
    QTest::addColumn<QString>("reason");
    QTest::newRow("unknown issuer") << QStringLiteral("127.0.0.1") << false
                                    << QStringLiteral("unable to get local issuer certificate");
    QTest::newRow("wrong name") << QStringLiteral("localhost") << true << QStringLiteral("hostname mismatch");
}

void tst_TlsTarget::badCertificatesAnswer502()
{
    QFETCH(QString, host);
    QFETCH(bool, trust);
    QFETCH(QString, reason);
    // The leaf names 127.0.0.1 only; "localhost" reaches the same server.
    const auto upstream = tlsServer(Behaviour::Echo, {QStringLiteral("127.0.0.1")});
    RunningProxy proxy;
    QVERIFY(proxy.start(configFor(QStringLiteral("tls:%1:%2").arg(host).arg(upstream->port()), trust)));
    const QByteArray reply = proxy.ask("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    QVERIFY2(reply.startsWith("HTTP/1.1 502 Bad Gateway\r\n"), reply.constData());
    // OpenSSL's words, whatever their case in this version.
    QVERIFY2(reply.toLower().contains(reason.toLower().toUtf8()), reply.constData());
    QVERIFY2(reply.contains("--insecure"), reply.constData());
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::Error);
    QVERIFY2(record.error.contains(reason, Qt::CaseInsensitive), qPrintable(record.error));
    QVERIFY(record.upstreamTls().isEmpty());
}

void tst_TlsTarget::insecureRelaysAnyway()
{
    const auto upstream = tlsServer(Behaviour::Echo, {QStringLiteral("127.0.0.1")});
    RunningProxy proxy;
    ProxyConfig config = configFor(QStringLiteral("tls:localhost:%1").arg(upstream->port()), false);
    config.insecureUpstream = true;
    QVERIFY(proxy.start(config));
    const QByteArray echoed = proxy.ask("unchecked", true);
    QCOMPARE(echoed, QByteArray("unchecked"));
    QVERIFY(proxy.records.waitForOnlyClosed().error.isEmpty());
}

void tst_TlsTarget::silentServerTimesOutWith504()
{
    // Connected, and then no answer to the ClientHello: the connect
    // timeout covers the handshake, and an HTTP client is told.
    ScriptedServer silent([](Socket &connection, int) { readUntilEof(connection.fd()); });
    RunningProxy proxy;
    ProxyConfig config = configFor(QStringLiteral("tls:127.0.0.1:%1").arg(silent.port()), true);
    config.connectTimeoutMs = 300;
    QVERIFY(proxy.start(config));
    const QByteArray reply = proxy.ask("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    QVERIFY2(reply.startsWith("HTTP/1.1 504 Gateway Timeout\r\n"), reply.constData());
    QVERIFY2(reply.contains("timed out"), reply.constData());
    QCOMPARE(proxy.records.waitForOnlyClosed().closeReason, Reason::Timeout);
}

void tst_TlsTarget::notHttpIsClosedNotAnswered()
{
    const auto upstream = tlsServer(Behaviour::Echo, {QStringLiteral("127.0.0.1")});
    RunningProxy proxy;
    QVERIFY(proxy.start(configFor(QStringLiteral("tls:127.0.0.1:%1").arg(upstream->port()), false)));
    const QByteArray reply = proxy.ask(QByteArray("\x00\x01\x02", 3));
    QVERIFY2(reply.isEmpty(), reply.constData());
    QVERIFY(proxy.records.waitForOnlyClosed().error.contains(QStringLiteral("certificate")));
}

void tst_TlsTarget::unusableCaFileStopsTheStart()
{
    RunningProxy proxy;
    ProxyConfig config = configFor(QStringLiteral("tls:127.0.0.1:9"), false);
    config.upstreamCaFile = m_directory.path() + QStringLiteral("/missing.pem");
    QVERIFY(!proxy.start(config));
    QVERIFY2(proxy.server.errorString().contains(QStringLiteral("missing.pem")), qPrintable(proxy.server.errorString()));
    QVERIFY(!proxy.server.isListening());
}

void tst_TlsTarget::keyLogHoldsTheSessionsSecrets()
{
    // proxymon's key log must hold the very secrets the server derived
    // for the same sessions: that is what lets Wireshark decrypt them.
    const auto upstream = tlsServer(Behaviour::Echo, {QStringLiteral("127.0.0.1")});
    const QString path = m_directory.path() + QStringLiteral("/keys.log");
    RunningProxy proxy;
    ProxyConfig config = configFor(QStringLiteral("tls:127.0.0.1:%1").arg(upstream->port()), true);
    config.keyLogFile = path;
    QVERIFY(proxy.start(config));
    for (int i = 0; i < 2; ++i) {
        const QByteArray echoed = proxy.ask("secret", true);
        QCOMPARE(echoed, QByteArray("secret"));
    }
    QVERIFY(proxy.records.waitForClosed(2));
    proxy.server.stop();

    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.permissions() & (QFileDevice::ReadGroup | QFileDevice::ReadOther), QFileDevice::Permissions());
    const QList<QByteArray> logged = file.readAll().split('\n');
    static const QRegularExpression shape(QStringLiteral("^[A-Z0-9_]+ [0-9a-f]{64} [0-9a-f]{64,}$"));
    int lines = 0;
    for (const QByteArray &line : logged) {
        if (line.isEmpty())
            continue;
        ++lines;
        QVERIFY2(shape.match(QString::fromLatin1(line)).hasMatch(), line.constData());
    }
    // TLS 1.3: five secrets per session.
    QCOMPARE(lines, 10);
    const QList<QByteArray> serverSecrets = upstream->secrets();
    QCOMPARE(serverSecrets.size(), 10);
    for (const QByteArray &secret : serverSecrets)
        QVERIFY2(logged.contains(secret), secret.constData());

    // A key log that cannot be written stops the start.
    ProxyServer refused;
    config.keyLogFile = m_directory.path() + QStringLiteral("/no/such/dir/keys.log");
    QVERIFY(!refused.start(config));
    QVERIFY2(refused.errorString().contains(QStringLiteral("key log")), qPrintable(refused.errorString()));
}

QTEST_GUILESS_MAIN(tst_TlsTarget)
#include "tst_tlstarget.moc"
