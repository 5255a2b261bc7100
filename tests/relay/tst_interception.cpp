// TLS interception end to end: curl and openssl s_client as clients that
// trust (or do not trust) proxymon's authority, TLS servers with a test
// authority's certificates as upstreams, and proxymon in between in both
// modes, showing what was inside.
#include "certificateauthority.h"
#include "loopback.h"
#include "proxyserver.h"
#include "recordcollector.h"
#include "tlsinterception.h"
#include "tlstestserver.h"

#include <QCryptographicHash>
#include <QProcess>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <openssl/ssl.h>

using namespace Loopback;
using Behaviour = TlsTestServer::Behaviour;
using Decryption = ConnectionRecord::Decryption;
using Reason = ConnectionRecord::CloseReason;

namespace {

struct ToolRun
{
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

// Runs a client program to its end (at most 30 s) while this thread's
// event loop serves the proxy.
ToolRun run(const QString &program, const QStringList &arguments, const QByteArray &input = QByteArray())
{
    ToolRun result;
    QProcess process;
    process.start(QStandardPaths::findExecutable(program), arguments);
    if (!process.waitForStarted(10'000))
        return result;
    process.write(input);
    process.closeWriteChannel();
    if (!QTest::qWaitFor([&] { return process.state() == QProcess::NotRunning; }, 30'000)) {
        process.kill();
        process.waitForFinished(5'000);
        return result;
    }
    result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    result.out = process.readAllStandardOutput();
    result.err = process.readAllStandardError();
    return result;
}

} // namespace

class tst_Interception : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void forwardingModeDecrypts_data();
    void forwardingModeDecrypts();
    void httpProxyModeDecryptsInsideConnect();
    void leafVerifiesAndRsaOnlyClientGetsRsa();
    void h2OnlyClientPassesThrough();
    void rejectingClientPassesThroughNextTime();
    void badUpstreamCertificateAnswers502OverTls();
    void passthroughListAndDecryptionOff();
    void serverFirstProtocolIsRelayedAsIs();
    void labFlowAndHalfCloseThroughTls();
    void silentCloseAfterHandshakeIsARejection();
    void proxymonTestServesTheAuthority();
    void keyLogDecryptsBothLegsInTshark();
    void bigBodiesBothWaysOnKeepAlive();

private:
    ProxyConfig forwardingTo(quint16 port) const;
    ProxyConfig httpProxy() const;
    QString curlCaArgument() const { return m_proxymonCa; }

    QTemporaryDir m_directory;
    std::unique_ptr<CertificateAuthority> m_testAuthority; // the upstreams' certificates
    QString m_caDirectory;  // proxymon's authority, made by its first start
    QString m_proxymonCa;   // its certificate, for the clients to trust
};

void tst_Interception::initTestCase()
{
    for (const char *tool : {"curl", "openssl"})
        QVERIFY2(!QStandardPaths::findExecutable(QString::fromLatin1(tool)).isEmpty(),
                 qPrintable(QStringLiteral("%1 is not installed (scripts/test.sh installs it)").arg(QString::fromLatin1(tool))));
    QString error;
    m_testAuthority = CertificateAuthority::open(m_directory.filePath(QStringLiteral("upstreams")), &error);
    QVERIFY2(m_testAuthority, qPrintable(error));
    m_caDirectory = m_directory.filePath(QStringLiteral("proxymon"));
    m_proxymonCa = m_caDirectory + QStringLiteral("/proxymon-ca.pem");
    // The first start makes proxymon's authority.
    ProxyServer server;
    QVERIFY(server.start(forwardingTo(9)));
    QVERIFY(QFile::exists(m_proxymonCa));
}

ProxyConfig tst_Interception::forwardingTo(quint16 port) const
{
    ProxyConfig config;
    config.listenAddress = QHostAddress::LocalHost;
    config.targetHost = QStringLiteral("127.0.0.1");
    config.targetPort = port;
    config.upstreamCaFile = m_testAuthority->certificatePath();
    config.caDirectory = m_caDirectory;
    config.stopGraceMs = 100;
    return config;
}

ProxyConfig tst_Interception::httpProxy() const
{
    ProxyConfig config = forwardingTo(0);
    config.mode = ProxyConfig::Mode::HttpProxy;
    config.targetHost.clear();
    return config;
}

void tst_Interception::forwardingModeDecrypts_data()
{
    QTest::addColumn<QString>("version");
    QTest::newRow("TLS 1.2") << QStringLiteral("1.2");
    QTest::newRow("TLS 1.3") << QStringLiteral("1.3");
}

void tst_Interception::forwardingModeDecrypts()
{
    // curl asks for https://test.example (resolved to proxymon's port):
    // proxymon shows it a certificate for that name from its own
    // authority, speaks TLS to the upstream as test.example, and sees the
    // exchanges inside.
    QFETCH(QString, version);
    TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("test.example")});
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY2(server.start(forwardingTo(upstream.port())), qPrintable(server.errorString()));
    const QString origin = QStringLiteral("https://test.example:%1").arg(server.listenPort());
    const QString body = m_directory.filePath(QStringLiteral("body-%1").arg(version));
    const ToolRun curl = run(QStringLiteral("curl"), {
        QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
        QStringLiteral("--tlsv") + version, QStringLiteral("--tls-max"), version,
        QStringLiteral("--cacert"), m_proxymonCa,
        QStringLiteral("--resolve"), QStringLiteral("test.example:%1:127.0.0.1").arg(server.listenPort()),
        QStringLiteral("-o"), body, origin + QStringLiteral("/bytes/300001"),
        QStringLiteral("-o"), QStringLiteral("/dev/null"), origin + QStringLiteral("/again")});
    QVERIFY2(curl.exitCode == 0, curl.err.constData());
    QFile file(body);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(sha256(file.readAll()), sha256(randomBytes(300001, 7)));

    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::Decrypted);
    QCOMPARE(record.clientTls.version, QStringLiteral("TLSv") + version);
    QCOMPARE(record.clientTls.serverName, QStringLiteral("test.example"));
    QCOMPARE(record.clientTls.alpn, QStringLiteral("http/1.1"));
    QVERIFY(record.clientTls.handshakeMs >= 0);
    QCOMPARE(record.upstreamTls.serverName, QStringLiteral("test.example"));
    QCOMPARE(record.upstreamTls.verification, QStringLiteral("ok"));
    QVERIFY(record.upstreamTls.chainPem.startsWith("-----BEGIN CERTIFICATE-----"));
    QCOMPARE(record.requests, 2u);
    // Wire bytes: the download in records, more than its plaintext.
    QVERIFY2(record.bytesDown > 300001, qPrintable(QString::number(record.bytesDown)));
    QVERIFY(records.waitForExchanges(2));
    const HttpExchange first = records.exchanges().first();
    QVERIFY(first.secure);
    QCOMPARE(first.url(), (origin + QStringLiteral("/bytes/300001")).toLatin1());
    QCOMPARE(first.response.status, 200);
    QCOMPARE(first.responseBodyBytes, 300001u);
    QCOMPARE(records.exchanges().at(1).sequence, 2);
}

void tst_Interception::httpProxyModeDecryptsInsideConnect()
{
    // curl -x: CONNECT localhost:PORT, then TLS inside the tunnel. The
    // CONNECT stays an exchange of its own; the requests inside follow it
    // as https ones, on the same connection. A body goes up, byte-exact.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("localhost")});
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY2(server.start(httpProxy()), qPrintable(server.errorString()));
    const QByteArray upload = randomBytes(700'000, 3);
    const QString uploadPath = m_directory.filePath(QStringLiteral("upload"));
    {
        QFile file(uploadPath);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(upload);
    }
    const QString origin = QStringLiteral("https://localhost:%1").arg(upstream.port());
    const ToolRun curl = run(QStringLiteral("curl"), {
        QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
        QStringLiteral("-x"), QStringLiteral("http://127.0.0.1:%1").arg(server.listenPort()),
        QStringLiteral("--cacert"), m_proxymonCa,
        QStringLiteral("--data-binary"), QStringLiteral("@") + uploadPath, origin + QStringLiteral("/upload")});
    QVERIFY2(curl.exitCode == 0, curl.err.constData());
    QCOMPARE(curl.out, QCryptographicHash::hash(upload, QCryptographicHash::Sha256).toHex());

    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::Decrypted);
    QCOMPARE(record.clientTls.serverName, QStringLiteral("localhost"));
    QVERIFY(records.waitForExchanges(2));
    const QList<HttpExchange> exchanges = records.exchanges();
    QCOMPARE(exchanges[0].request.method(), QByteArrayView("CONNECT"));
    QCOMPARE(exchanges[0].sequence, 1);
    QCOMPARE(exchanges[1].request.method(), QByteArrayView("POST"));
    QCOMPARE(exchanges[1].sequence, 2);
    QCOMPARE(exchanges[1].url(), (origin + QStringLiteral("/upload")).toLatin1());
    QCOMPARE(exchanges[1].requestBodyBytes, quint64(upload.size()));
    QCOMPARE(exchanges[1].response.status, 200);
}

void tst_Interception::leafVerifiesAndRsaOnlyClientGetsRsa()
{
    // OpenSSL's own client checks the leaf against proxymon's authority
    // for the name it asked; a client that takes only RSA signatures gets
    // an RSA leaf, the others an ECDSA P-256 one.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Echo, {QStringLiteral("leaf.test")});
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(forwardingTo(upstream.port())));
    const QString connect = QStringLiteral("127.0.0.1:%1").arg(server.listenPort());
    for (const bool rsaOnly : {false, true}) {
        QStringList arguments{QStringLiteral("s_client"), QStringLiteral("-connect"), connect,
                              QStringLiteral("-servername"), QStringLiteral("leaf.test"),
                              QStringLiteral("-verify_hostname"), QStringLiteral("leaf.test"),
                              QStringLiteral("-CAfile"), m_proxymonCa, QStringLiteral("-verify_return_error")};
        if (rsaOnly)
            arguments << QStringLiteral("-tls1_2") << QStringLiteral("-sigalgs")
                      << QStringLiteral("RSA-PSS+SHA256:RSA+SHA256");
        // A byte before leaving: a client that leaves without one right
        // after the handshake counts as one that rejected the certificate.
        const ToolRun client = run(QStringLiteral("openssl"), arguments, "ping\nQ\n");
        QVERIFY2(client.out.contains("Verify return code: 0 (ok)"), client.out.constData());
        const QByteArray keySize = rsaOnly ? "Server public key is 2048 bit" : "Server public key is 256 bit";
        QVERIFY2(client.out.contains(keySize), client.out.constData());
    }
    QVERIFY(records.waitForClosed(2));
}

void tst_Interception::h2OnlyClientPassesThrough()
{
    // proxymon reads HTTP/1.x: a client that offers only h2 talks to the
    // upstream itself, and the row says why.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Echo, {QStringLiteral("h2.test")});
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(forwardingTo(upstream.port())));
    const ToolRun client = run(QStringLiteral("openssl"), {
        QStringLiteral("s_client"), QStringLiteral("-connect"), QStringLiteral("127.0.0.1:%1").arg(server.listenPort()),
        QStringLiteral("-servername"), QStringLiteral("h2.test"), QStringLiteral("-alpn"), QStringLiteral("h2"),
        QStringLiteral("-CAfile"), m_testAuthority->certificatePath(), QStringLiteral("-verify_return_error")}, "Q\n");
    // The upstream's own certificate reached the client.
    QVERIFY2(client.out.contains("Verify return code: 0 (ok)"), client.out.constData());
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::Passthrough);
    QVERIFY2(record.decryptionNote.contains(QStringLiteral("only h2")), qPrintable(record.decryptionNote));
    QCOMPARE(record.clientTls.serverName, QStringLiteral("h2.test"));
}

void tst_Interception::rejectingClientPassesThroughNextTime()
{
    // curl without proxymon's authority refuses its certificate: the row
    // says so in words, the host goes on the session's passthrough list,
    // and the next connection reaches the upstream's own certificate
    // (which this client trusts). Taking the host off the list decrypts
    // again.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("pinned.test")});
    ProxyServer server;
    RecordCollector records(&server);
    QSignalSpy changed(&server, &ProxyServer::interceptionChanged);
    QVERIFY(server.start(forwardingTo(upstream.port())));
    const QString url = QStringLiteral("https://pinned.test:%1/").arg(server.listenPort());
    const QStringList common{QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                             QStringLiteral("--resolve"), QStringLiteral("pinned.test:%1:127.0.0.1").arg(server.listenPort()),
                             QStringLiteral("--cacert"), m_testAuthority->certificatePath(), url};
    const ToolRun refused = run(QStringLiteral("curl"), common);
    QCOMPARE(refused.exitCode, 60); // curl: the peer's certificate cannot be authenticated
    const ConnectionRecord rejected = records.waitForOnlyClosed();
    QCOMPARE(rejected.decryption, Decryption::Rejected);
    QVERIFY2(rejected.decryptionNote.contains(QStringLiteral("rejected proxymon's certificate for pinned.test")),
             qPrintable(rejected.decryptionNote));
    QVERIFY2(rejected.decryptionNote.contains(QStringLiteral("unknown CA")), qPrintable(rejected.decryptionNote));
    QVERIFY(changed.wait(2'000) || changed.count() > 0);
    const auto rejections = server.interception().rejections();
    QCOMPARE(rejections.size(), 1);
    QCOMPARE(rejections.first().host, QStringLiteral("pinned.test"));

    records.clear();
    const ToolRun passed = run(QStringLiteral("curl"), common);
    QVERIFY2(passed.exitCode == 0, passed.err.constData());
    QCOMPARE(passed.out, QByteArray("hello"));
    const ConnectionRecord through = records.waitForOnlyClosed();
    QCOMPARE(through.decryption, Decryption::Passthrough);
    QVERIFY2(through.decryptionNote.contains(QStringLiteral("rejected")), qPrintable(through.decryptionNote));

    server.interception().forgetRejection(QStringLiteral("pinned.test"));
    records.clear();
    const ToolRun again = run(QStringLiteral("curl"), common);
    QCOMPARE(again.exitCode, 60);
    QCOMPARE(records.waitForOnlyClosed().decryption, Decryption::Rejected);
}

void tst_Interception::badUpstreamCertificateAnswers502OverTls()
{
    // The upstream's certificate names someone else: the client's own
    // handshake completes, and its request is answered with a 502 naming
    // OpenSSL's reason and the switch that allows the host.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Hello, {QStringLiteral("someone.else")});
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(forwardingTo(upstream.port())));
    const QStringList arguments{QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                                QStringLiteral("--resolve"), QStringLiteral("bad.test:%1:127.0.0.1").arg(server.listenPort()),
                                QStringLiteral("--cacert"), m_proxymonCa, QStringLiteral("-i"),
                                QStringLiteral("https://bad.test:%1/").arg(server.listenPort())};
    const ToolRun answered = run(QStringLiteral("curl"), arguments);
    QVERIFY2(answered.exitCode == 0, answered.err.constData());
    QVERIFY2(answered.out.startsWith("HTTP/1.1 502 Bad Gateway\r\n"), answered.out.constData());
    QVERIFY2(answered.out.toLower().contains("hostname mismatch"), answered.out.constData());
    QVERIFY2(answered.out.contains("--insecure-host bad.test"), answered.out.constData());
    const ConnectionRecord failed = records.waitForOnlyClosed();
    QCOMPARE(failed.closeReason, Reason::Error);
    QCOMPARE(failed.decryption, Decryption::Decrypted);
    QVERIFY(records.waitForExchanges(1));
    QCOMPARE(records.exchanges().first().response.status, 502);

    // Allowed on purpose: relayed, and the record still says what failed.
    server.interception().addHost(TlsInterception::Hosts::Insecure, QStringLiteral("bad.test"));
    records.clear();
    const ToolRun allowed = run(QStringLiteral("curl"), arguments);
    QVERIFY2(allowed.out.endsWith("\r\n\r\nhello"), allowed.out.constData());
    const ConnectionRecord relayed = records.waitForOnlyClosed();
    QVERIFY2(relayed.upstreamTls.verification.contains(QStringLiteral("mismatch"), Qt::CaseInsensitive),
             qPrintable(relayed.upstreamTls.verification));
}

void tst_Interception::passthroughListAndDecryptionOff()
{
    TlsTestServer upstream(*m_testAuthority, Behaviour::Hello, {QStringLiteral("www.skip.test")});
    const auto fetch = [&](ProxyServer &server) {
        return run(QStringLiteral("curl"), {
            QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
            QStringLiteral("--resolve"), QStringLiteral("www.skip.test:%1:127.0.0.1").arg(server.listenPort()),
            QStringLiteral("--cacert"), m_testAuthority->certificatePath(),
            QStringLiteral("https://www.skip.test:%1/").arg(server.listenPort())});
    };
    {
        ProxyServer server;
        RecordCollector records(&server);
        ProxyConfig config = forwardingTo(upstream.port());
        config.passthroughHosts = {QStringLiteral("*.skip.test")};
        QVERIFY(server.start(config));
        const ToolRun passed = fetch(server);
        QVERIFY2(passed.exitCode == 0, passed.err.constData());
        QCOMPARE(passed.out, QByteArray("hello"));
        const ConnectionRecord record = records.waitForOnlyClosed();
        QCOMPARE(record.decryption, Decryption::Passthrough);
        QVERIFY2(record.decryptionNote.contains(QStringLiteral("passthrough list")), qPrintable(record.decryptionNote));
    }
    {
        ProxyServer server;
        RecordCollector records(&server);
        ProxyConfig config = forwardingTo(upstream.port());
        config.decrypt = false;
        QVERIFY(server.start(config));
        const ToolRun passed = fetch(server);
        QVERIFY2(passed.exitCode == 0, passed.err.constData());
        const ConnectionRecord record = records.waitForOnlyClosed();
        QCOMPARE(record.decryption, Decryption::Passthrough);
        QCOMPARE(record.decryptionNote, QStringLiteral("decryption is off"));
        // Turned on while it runs: the next connection is decrypted.
        server.setDecryption(true);
        records.clear();
        const ToolRun refused = fetch(server);
        QCOMPARE(refused.exitCode, 60);
    }
}

void tst_Interception::serverFirstProtocolIsRelayedAsIs()
{
    // An upstream that speaks first (SMTP's banner) is not kept waiting
    // for a ClientHello that will never come.
    ScriptedServer smtp([](Socket &connection, int) {
        sendAll(connection.fd(), "220 smtp.test ready\r\n");
        const QByteArray command = readExactly(connection.fd(), 6);
        sendAll(connection.fd(), "221 " + command);
    });
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(forwardingTo(smtp.port())));
    const QByteArray seen = offThread([&] {
        Socket client = connectTo("127.0.0.1", server.listenPort());
        QByteArray all = readExactly(client.fd(), 21);
        sendAll(client.fd(), "QUIT\r\n");
        all += readUntilEof(client.fd());
        return all;
    });
    QCOMPARE(seen, QByteArray("220 smtp.test ready\r\n221 QUIT\r\n"));
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::None);
    QCOMPARE(record.bytesUp, 6u);
}

void tst_Interception::labFlowAndHalfCloseThroughTls()
{
    // The lab's client over TLS: send everything, close_notify and FIN,
    // read to the end. proxymon passes the close_notify on as one, the
    // echo keeps flowing back, and the server's close_notify comes back.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Echo, {QStringLiteral("lab.test")});
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(forwardingTo(upstream.port())));
    const QByteArray data = randomBytes(4 * 1024 * 1024 + 5, 5);
    bool clean = false;
    const QByteArray echoed = offThread([&] {
        Socket socket = connectTo("127.0.0.1", server.listenPort());
        SSL_CTX *context = SSL_CTX_new(TLS_client_method());
        SSL_CTX_load_verify_locations(context, QFile::encodeName(m_proxymonCa).constData(), nullptr);
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
        SSL *ssl = SSL_new(context);
        SSL_set_fd(ssl, socket.fd());
        SSL_set_tlsext_host_name(ssl, "lab.test");
        SSL_set1_host(ssl, "lab.test");
        QByteArray received;
        if (SSL_connect(ssl) == 1) {
            std::thread writer([&] {
                size_t done = 0;
                SSL_write_ex(ssl, data.constData(), size_t(data.size()), &done);
                SSL_shutdown(ssl);
                socket.shutdownWrite();
            });
            char buffer[65536];
            size_t got = 0;
            while (SSL_read_ex(ssl, buffer, sizeof buffer, &got) == 1)
                received.append(buffer, qsizetype(got));
            clean = SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN;
            writer.join();
        }
        SSL_free(ssl);
        SSL_CTX_free(context);
        return received;
    });
    QCOMPARE(echoed.size(), data.size());
    QCOMPARE(sha256(echoed), sha256(data));
    QVERIFY(clean);
    QVERIFY(upstream.sawCloseNotify());
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::Decrypted);
    QCOMPARE(record.closeReason, Reason::ClientFin);
    QVERIFY(!record.tlsTruncated);
    QVERIFY(record.raw);
}

void tst_Interception::silentCloseAfterHandshakeIsARejection()
{
    // A client that pins its certificates completes the handshake, finds
    // the wrong key and leaves without a byte: that too is a rejection.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Echo, {QStringLiteral("pin.test")});
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(forwardingTo(upstream.port())));
    run(QStringLiteral("openssl"), {QStringLiteral("s_client"), QStringLiteral("-connect"),
                                    QStringLiteral("127.0.0.1:%1").arg(server.listenPort()),
                                    QStringLiteral("-servername"), QStringLiteral("pin.test")}, "Q\n");
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::Rejected);
    QVERIFY2(record.decryptionNote.contains(QStringLiteral("without a byte")), qPrintable(record.decryptionNote));
    QCOMPARE(server.interception().rejections().value(0).host, QStringLiteral("pin.test"));
}

void tst_Interception::proxymonTestServesTheAuthority()
{
    // Through the HTTP proxy, http://proxymon.test/ is proxymon's own page:
    // its certificate to download and how to trust it; over https it says
    // whether interception works for the client asking.
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY2(server.start(httpProxy()), qPrintable(server.errorString()));
    const QString proxy = QStringLiteral("http://127.0.0.1:%1").arg(server.listenPort());
    const auto fetch = [&](const QString &url, const QString &trusted) {
        QStringList arguments{QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                              QStringLiteral("-x"), proxy, url};
        if (!trusted.isEmpty())
            arguments << QStringLiteral("--cacert") << trusted;
        return run(QStringLiteral("curl"), arguments);
    };
    const ToolRun page = fetch(QStringLiteral("http://proxymon.test/"), QString());
    QVERIFY2(page.exitCode == 0, page.err.constData());
    QVERIFY2(page.out.contains("You reached proxymon through its HTTP proxy"), page.out.constData());
    QVERIFY(page.out.contains("update-ca-certificates"));
    QFile ca(m_proxymonCa);
    QVERIFY(ca.open(QIODevice::ReadOnly));
    QCOMPARE(fetch(QStringLiteral("http://proxymon.test/proxymon-ca.pem"), QString()).out, ca.readAll());
    QVERIFY(fetch(QStringLiteral("http://proxymon.test/proxymon-ca.der"), QString()).out.startsWith("\x30\x82"));

    const ToolRun works = fetch(QStringLiteral("https://proxymon.test/"), m_proxymonCa);
    QVERIFY2(works.exitCode == 0, works.err.constData());
    QVERIFY2(works.out.contains("Interception works for this client"), works.out.constData());
    // A client that does not trust the authority cannot read it.
    QCOMPARE(fetch(QStringLiteral("https://proxymon.test/"), m_testAuthority->certificatePath()).exitCode, 60);
    QVERIFY(records.waitForClosed(5));
    bool sawDecrypted = false;
    for (const ConnectionRecord &record : records.closed()) {
        QVERIFY2(record.upstream.startsWith(QStringLiteral("proxymon.test:")), qPrintable(record.upstream));
        sawDecrypted |= record.decryption == Decryption::Decrypted;
    }
    QVERIFY(sawDecrypted);
}

void tst_Interception::keyLogDecryptsBothLegsInTshark()
{
    // A packet capture of loopback holds both legs encrypted; with the key
    // log proxymon wrote, Wireshark's tshark reads the request on each.
    for (const char *tool : {"tcpdump", "tshark"})
        QVERIFY2(!QStandardPaths::findExecutable(QString::fromLatin1(tool), {QStringLiteral("/usr/bin"), QStringLiteral("/usr/sbin")}).isEmpty(),
                 qPrintable(QStringLiteral("%1 is not installed (scripts/test.sh installs it)").arg(QString::fromLatin1(tool))));
    TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("wire.test")});
    ProxyServer server;
    RecordCollector records(&server);
    ProxyConfig config = forwardingTo(upstream.port());
    const QString keys = m_directory.filePath(QStringLiteral("wire-keys.log"));
    config.keyLogFile = keys;
    QVERIFY(server.start(config));
    const quint16 port = server.listenPort();
    const QString capture = m_directory.filePath(QStringLiteral("wire.pcap"));
    QProcess tcpdump;
    tcpdump.setProcessChannelMode(QProcess::MergedChannels);
    tcpdump.start(QStandardPaths::findExecutable(QStringLiteral("tcpdump"), {QStringLiteral("/usr/bin"), QStringLiteral("/usr/sbin")}),
                  // -Z root: Debian's tcpdump otherwise drops to its own user,
                  // who cannot write into the test's private directory.
                  // --immediate-mode: each packet reaches the file at once,
                  // not when a ring buffer block fills or times out.
                  {QStringLiteral("-i"), QStringLiteral("lo"), QStringLiteral("-Z"), QStringLiteral("root"), QStringLiteral("-U"),
                   QStringLiteral("--immediate-mode"),
                   QStringLiteral("-w"), capture,
                   QStringLiteral("tcp port %1 or tcp port %2").arg(port).arg(upstream.port())});
    QVERIFY(tcpdump.waitForStarted(10'000));
    QVERIFY2(QTest::qWaitFor([&] { return tcpdump.readAll().contains("listening on") || tcpdump.state() == QProcess::NotRunning; }, 10'000)
                 && tcpdump.state() == QProcess::Running, "tcpdump did not start capturing");
    const ToolRun curl = run(QStringLiteral("curl"), {
        QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"), QStringLiteral("--cacert"), m_proxymonCa,
        QStringLiteral("--resolve"), QStringLiteral("wire.test:%1:127.0.0.1").arg(port),
        QStringLiteral("https://wire.test:%1/bytes/1234").arg(port)});
    QVERIFY2(curl.exitCode == 0, curl.err.constData());
    QCOMPARE(curl.out, randomBytes(1234, 7));
    QVERIFY(records.waitForClosed(1));
    QTest::qWait(300); // the last packets reach the capture file
    tcpdump.terminate();
    QVERIFY(tcpdump.waitForFinished(10'000));

    const auto requests = [&](const QStringList &options) {
        QStringList arguments{QStringLiteral("-r"), capture, QStringLiteral("-d"), QStringLiteral("tcp.port==%1,tls").arg(port),
                              QStringLiteral("-d"), QStringLiteral("tcp.port==%1,tls").arg(upstream.port())};
        arguments << options << QStringLiteral("-Y") << QStringLiteral("http.request") << QStringLiteral("-T")
                  << QStringLiteral("fields") << QStringLiteral("-e") << QStringLiteral("tcp.dstport") << QStringLiteral("-e")
                  << QStringLiteral("http.request.uri");
        return run(QStringLiteral("tshark"), arguments).out.trimmed();
    };
    // Without the keys: TLS, nothing readable.
    QCOMPARE(requests({}), QByteArray());
    const QByteArray both = requests({QStringLiteral("-o"), QStringLiteral("tls.keylog_file:") + keys});
    QList<QByteArray> lines = both.split('\n');
    std::sort(lines.begin(), lines.end());
    QList<QByteArray> expected{QByteArray::number(port) + "\t/bytes/1234", QByteArray::number(upstream.port()) + "\t/bytes/1234"};
    std::sort(expected.begin(), expected.end());
    QCOMPARE(lines, expected);
}

void tst_Interception::bigBodiesBothWaysOnKeepAlive()
{
    // 64 MiB up, then 64 MiB down, on one kept-alive intercepted connection:
    // both bodies byte-exact (the server answers the upload with its
    // SHA-256), and the capture counts them whole.
    constexpr qsizetype Size = 64 * 1024 * 1024;
    TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("big.test")});
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(forwardingTo(upstream.port())));
    const QByteArray upload = randomBytes(Size, 21);
    const QString uploadPath = m_directory.filePath(QStringLiteral("big-upload"));
    const QString downloadPath = m_directory.filePath(QStringLiteral("big-download"));
    {
        QFile file(uploadPath);
        QVERIFY(file.open(QIODevice::WriteOnly));
        QCOMPARE(file.write(upload), Size);
    }
    const QString origin = QStringLiteral("https://big.test:%1").arg(server.listenPort());
    const ToolRun curl = run(QStringLiteral("curl"), {
        QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("25"), QStringLiteral("--cacert"), m_proxymonCa,
        QStringLiteral("--resolve"), QStringLiteral("big.test:%1:127.0.0.1").arg(server.listenPort()),
        QStringLiteral("--data-binary"), QStringLiteral("@") + uploadPath, origin + QStringLiteral("/upload"),
        QStringLiteral("--next"), QStringLiteral("--cacert"), m_proxymonCa,
        QStringLiteral("--resolve"), QStringLiteral("big.test:%1:127.0.0.1").arg(server.listenPort()),
        QStringLiteral("-o"), downloadPath, origin + QStringLiteral("/bytes/%1").arg(Size)});
    QVERIFY2(curl.exitCode == 0, curl.err.constData());
    QCOMPARE(curl.out, QCryptographicHash::hash(upload, QCryptographicHash::Sha256).toHex());
    QFile download(downloadPath);
    QVERIFY(download.open(QIODevice::ReadOnly));
    QCOMPARE(sha256(download.readAll()), sha256(randomBytes(Size, 7)));
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::Decrypted);
    QCOMPARE(record.requests, 2u);
    QVERIFY(record.bytesUp > quint64(Size) && record.bytesDown > quint64(Size));
    QVERIFY(records.waitForExchanges(2));
    QCOMPARE(records.exchanges().at(0).requestBodyBytes, quint64(Size));
    QCOMPARE(records.exchanges().at(1).responseBodyBytes, quint64(Size));
}

QTEST_GUILESS_MAIN(tst_Interception)
#include "tst_interception.moc"
