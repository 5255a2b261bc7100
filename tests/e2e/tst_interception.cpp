// TLS interception end to end, what is decided: which clients are
// decrypted (both modes, the leaf each gets, h2-only and rejecting clients,
// the passthrough list, decryption off), what an upstream's bad certificate
// does, and proxymon's authority (served, replaced). curl and openssl
// s_client are the clients; TLS servers with a test authority's
// certificates are the upstreams.

#include "faultrule.h"
#include "interceptionfixture.h"
#include "loopback.h"
#include "runningproxy.h"
#include "tlsclient.h"
#include "tlsinterception.h"
#include "tlstestserver.h"

#include <QCryptographicHash>
#include <QFile>
#include <QProcess>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTest>

#include <openssl/ssl.h>

using namespace Loopback;
using Behaviour = TlsTestServer::Behaviour;
using Decryption = ConnectionRecord::Decryption;
using Reason = ConnectionRecord::CloseReason;

class tst_Interception : public QObject, private InterceptionFixture
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
    void badUpstreamCertificates_data();
    void badUpstreamCertificates();
    void passthroughListAndDecryptionOff();
    void silentCloseAfterHandshakeIsARejection();
    void proxymonTestServesTheAuthority();
    void replacedAuthorityServesTheNextStart();
};

void tst_Interception::initTestCase()
{
    QString why;
    QVERIFY2(prepare(&why), qPrintable(why));
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
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingTo(upstream.port())));
    const QString origin = QStringLiteral("https://test.example:%1").arg(proxy.port());
    const QString body = m_directory.filePath(QStringLiteral("body-%1").arg(version));
    const ToolRun curl = ToolRun::run(QStringLiteral("curl"), {
        QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
        QStringLiteral("--tlsv") + version, QStringLiteral("--tls-max"), version,
        QStringLiteral("--cacert"), m_proxymonCa,
        QStringLiteral("--resolve"), QStringLiteral("test.example:%1:127.0.0.1").arg(proxy.port()),
        QStringLiteral("-o"), body, origin + QStringLiteral("/bytes/300001"),
        QStringLiteral("-o"), QStringLiteral("/dev/null"), origin + QStringLiteral("/again")});
    QVERIFY2(curl.exitCode == 0, curl.err.constData());
    QFile file(body);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(sha256(file.readAll()), sha256(randomBytes(300001, 7)));

    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::Decrypted);
    QCOMPARE(record.clientTls().version, QStringLiteral("TLSv") + version);
    QCOMPARE(record.clientTls().serverName, QStringLiteral("test.example"));
    QCOMPARE(record.clientTls().alpn, QStringLiteral("http/1.1"));
    QVERIFY(record.clientTls().handshakeMs >= 0);
    QCOMPARE(record.upstreamTls().serverName, QStringLiteral("test.example"));
    QCOMPARE(record.upstreamTls().verification, QStringLiteral("ok"));
    QVERIFY(record.upstreamTls().chainPem.startsWith("-----BEGIN CERTIFICATE-----"));
    QCOMPARE(record.requests, 2u);
    // Wire bytes: the download in proxy.records, more than its plaintext.
    QVERIFY2(record.bytesDown > 300001, qPrintable(QString::number(record.bytesDown)));
    QVERIFY(proxy.records.waitForExchanges(2));
    const HttpExchange first = proxy.records.exchanges().first();
    QVERIFY(first.secure);
    QCOMPARE(first.url(), (origin + QStringLiteral("/bytes/300001")).toLatin1());
    QCOMPARE(first.response.status, 200);
    QCOMPARE(first.responseBodyBytes, 300001u);
    QCOMPARE(proxy.records.exchanges().at(1).sequence, 2);
}

void tst_Interception::httpProxyModeDecryptsInsideConnect()
{
    // curl -x: CONNECT localhost:PORT, then TLS inside the tunnel. The
    // CONNECT stays an exchange of its own; the requests inside follow it
    // as https ones, on the same connection. A body goes up, byte-exact.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("localhost")});
    RunningProxy proxy;
    QVERIFY(proxy.start(httpProxy()));
    const QByteArray upload = randomBytes(700'000, 3);
    const QString origin = QStringLiteral("https://localhost:%1").arg(upstream.port());
    const ToolRun curl = uploadThroughProxy(proxy.server, origin, upload, QStringLiteral("upload"));
    QVERIFY2(curl.exitCode == 0, curl.err.constData());
    QCOMPARE(curl.out, QCryptographicHash::hash(upload, QCryptographicHash::Sha256).toHex());

    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::Decrypted);
    QCOMPARE(record.clientTls().serverName, QStringLiteral("localhost"));
    QVERIFY(proxy.records.waitForExchanges(2));
    const QList<HttpExchange> exchanges = proxy.records.exchanges();
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
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingTo(upstream.port())));
    const QString connect = QStringLiteral("127.0.0.1:%1").arg(proxy.port());
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
        const ToolRun client = ToolRun::run(QStringLiteral("openssl"), arguments, "ping\nQ\n");
        QVERIFY2(client.out.contains("Verify return code: 0 (ok)"), client.out.constData());
        const QByteArray keySize = rsaOnly ? "Server public key is 2048 bit" : "Server public key is 256 bit";
        QVERIFY2(client.out.contains(keySize), client.out.constData());
        // And `openssl verify` accepts the leaf on its own.
        const qsizetype begin = client.out.indexOf("-----BEGIN CERTIFICATE-----");
        const qsizetype end = client.out.indexOf("-----END CERTIFICATE-----");
        QVERIFY(begin >= 0 && end > begin);
        const QString leaf = m_directory.filePath(QStringLiteral("leaf-%1.pem").arg(rsaOnly));
        QVERIFY(writeTextFile(leaf, client.out.mid(begin, end + 26 - begin)));
        const ToolRun verified = ToolRun::run(QStringLiteral("openssl"), {QStringLiteral("verify"), QStringLiteral("-CAfile"), m_proxymonCa,
                                                                 QStringLiteral("-verify_hostname"), QStringLiteral("leaf.test"), leaf});
        QVERIFY2(verified.exitCode == 0 && verified.out.contains(": OK"), verified.out + verified.err);
    }
    QVERIFY(proxy.records.waitForClosed(2));
}

void tst_Interception::h2OnlyClientPassesThrough()
{
    // proxymon reads HTTP/1.x: a client that offers only h2 talks to the
    // upstream itself, and the row says why.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Echo, {QStringLiteral("h2.test")});
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingTo(upstream.port())));
    const ToolRun client = ToolRun::run(QStringLiteral("openssl"), {
        QStringLiteral("s_client"), QStringLiteral("-connect"), QStringLiteral("127.0.0.1:%1").arg(proxy.port()),
        QStringLiteral("-servername"), QStringLiteral("h2.test"), QStringLiteral("-alpn"), QStringLiteral("h2"),
        QStringLiteral("-CAfile"), m_testAuthority->certificatePath(), QStringLiteral("-verify_return_error")}, "Q\n");
    // The upstream's own certificate reached the client.
    QVERIFY2(client.out.contains("Verify return code: 0 (ok)"), client.out.constData());
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::Passthrough);
    QVERIFY2(record.decryptionNote.contains(QStringLiteral("only h2")), qPrintable(record.decryptionNote));
    QCOMPARE(record.clientTls().serverName, QStringLiteral("h2.test"));
}

void tst_Interception::rejectingClientPassesThroughNextTime()
{
    // curl without proxymon's authority refuses its certificate: the row
    // says so in words, the host goes on the session's passthrough list,
    // and the next connection reaches the upstream's own certificate
    // (which this client trusts). Taking the host off the list decrypts
    // again.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("pinned.test")});
    RunningProxy proxy;
    QSignalSpy changed(&proxy.server, &ProxyServer::interceptionChanged);
    QVERIFY(proxy.start(forwardingTo(upstream.port())));
    const QString url = QStringLiteral("https://pinned.test:%1/").arg(proxy.port());
    const QStringList common{QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                             QStringLiteral("--resolve"), QStringLiteral("pinned.test:%1:127.0.0.1").arg(proxy.port()),
                             QStringLiteral("--cacert"), m_testAuthority->certificatePath(), url};
    const ToolRun refused = ToolRun::run(QStringLiteral("curl"), common);
    QCOMPARE(refused.exitCode, 60); // curl: the peer's certificate cannot be authenticated
    const ConnectionRecord rejected = proxy.records.waitForOnlyClosed();
    QCOMPARE(rejected.decryption, Decryption::Rejected);
    QVERIFY2(rejected.decryptionNote.contains(QStringLiteral("rejected proxymon's certificate for pinned.test")),
             qPrintable(rejected.decryptionNote));
    QVERIFY2(rejected.decryptionNote.contains(QStringLiteral("unknown CA")), qPrintable(rejected.decryptionNote));
    QVERIFY(changed.wait(2'000) || changed.count() > 0);
    const auto rejections = proxy.server.interception().rejections();
    QCOMPARE(rejections.size(), 1);
    QCOMPARE(rejections.first().host, QStringLiteral("pinned.test"));

    proxy.records.clear();
    const ToolRun passed = ToolRun::run(QStringLiteral("curl"), common);
    QVERIFY2(passed.exitCode == 0, passed.err.constData());
    QCOMPARE(passed.out, QByteArray("hello"));
    const ConnectionRecord through = proxy.records.waitForOnlyClosed();
    QCOMPARE(through.decryption, Decryption::Passthrough);
    QVERIFY2(through.decryptionNote.contains(QStringLiteral("rejected")), qPrintable(through.decryptionNote));

    proxy.server.interception().forgetRejection(QStringLiteral("pinned.test"));
    proxy.records.clear();
    const ToolRun again = ToolRun::run(QStringLiteral("curl"), common);
    QCOMPARE(again.exitCode, 60);
    QCOMPARE(proxy.records.waitForOnlyClosed().decryption, Decryption::Rejected);
}

void tst_Interception::badUpstreamCertificateAnswers502OverTls()
{
    // The upstream's certificate names someone else: the client's own
    // handshake completes, and its request is answered with a 502 naming
    // OpenSSL's reason and the switch that allows the host.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Hello, {QStringLiteral("someone.else")});
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingTo(upstream.port())));
    const QStringList arguments{QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                                QStringLiteral("--resolve"), QStringLiteral("bad.test:%1:127.0.0.1").arg(proxy.port()),
                                QStringLiteral("--cacert"), m_proxymonCa, QStringLiteral("-i"),
                                QStringLiteral("https://bad.test:%1/").arg(proxy.port())};
    const ToolRun answered = ToolRun::run(QStringLiteral("curl"), arguments);
    QVERIFY2(answered.exitCode == 0, answered.err.constData());
    QVERIFY2(answered.out.startsWith("HTTP/1.1 502 Bad Gateway\r\n"), answered.out.constData());
    QVERIFY2(answered.out.toLower().contains("hostname mismatch"), answered.out.constData());
    QVERIFY2(answered.out.contains("--insecure-host bad.test"), answered.out.constData());
    const ConnectionRecord failed = proxy.records.waitForOnlyClosed();
    QCOMPARE(failed.closeReason, Reason::Error);
    QCOMPARE(failed.decryption, Decryption::Decrypted);
    QVERIFY(proxy.records.waitForExchanges(1));
    QCOMPARE(proxy.records.exchanges().first().response.status, 502);

    // Allowed on purpose: relayed, and the record still says what failed.
    proxy.server.interception().addHost(TlsInterception::Hosts::Insecure, QStringLiteral("bad.test"));
    proxy.records.clear();
    const ToolRun allowed = ToolRun::run(QStringLiteral("curl"), arguments);
    QVERIFY2(allowed.out.endsWith("\r\n\r\nhello"), allowed.out.constData());
    const ConnectionRecord relayed = proxy.records.waitForOnlyClosed();
    QVERIFY2(relayed.upstreamTls().verification.contains(QStringLiteral("mismatch"), Qt::CaseInsensitive),
             qPrintable(relayed.upstreamTls().verification));
}

void tst_Interception::badUpstreamCertificates_data()
{
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("reason");
    QTest::newRow("expired") << QStringLiteral("expired") << QStringLiteral("certificate has expired");
    QTest::newRow("self-signed") << QStringLiteral("self-signed") << QStringLiteral("self-signed certificate");
    QTest::newRow("missing intermediate") << QStringLiteral("missing-intermediate")
                                          << QStringLiteral("unable to get local issuer certificate");
}

void tst_Interception::badUpstreamCertificates()
{
    // Certificates made by the openssl command as broken servers have them,
    // served by openssl s_server: each gets the client a 502 naming
    // OpenSSL's reason, and the per-host switch lets it through.
    QFETCH(QString, kind);
    QFETCH(QString, reason);
    QTemporaryDir directory;
    const auto file = [&](const char *name) { return directory.filePath(QLatin1String(name)); };
    const auto openssl = [&](const QStringList &arguments) {
        const ToolRun made = ToolRun::run(QStringLiteral("openssl"), arguments);
        if (made.exitCode != 0)
            qWarning() << arguments << made.err;
        return made.exitCode == 0;
    };
    const auto key = [&](const char *name) {
        return QStringList{QStringLiteral("-newkey"), QStringLiteral("ec"), QStringLiteral("-pkeyopt"),
                           QStringLiteral("ec_paramgen_curve:P-256"), QStringLiteral("-nodes"), QStringLiteral("-keyout"),
                           file(name)};
    };
    QVERIFY(writeTextFile(file("leaf.ext"), "subjectAltName=DNS:bad.test\n"));
    QVERIFY(writeTextFile(file("ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"));
    QString trusted; // what proxymon is told to trust besides the system
    if (kind == QLatin1String("self-signed")) {
        QVERIFY(openssl(QStringList{QStringLiteral("req"), QStringLiteral("-x509")} + key("leaf.key")
                        + QStringList{QStringLiteral("-out"), file("leaf.pem"), QStringLiteral("-subj"), QStringLiteral("/CN=bad.test"),
                                      QStringLiteral("-days"), QStringLiteral("2"), QStringLiteral("-addext"),
                                      QStringLiteral("subjectAltName=DNS:bad.test")}));
        trusted = m_testAuthority->certificatePath();
    } else {
        QVERIFY(openssl(QStringList{QStringLiteral("req"), QStringLiteral("-x509")} + key("root.key")
                        + QStringList{QStringLiteral("-out"), file("root.pem"), QStringLiteral("-subj"), QStringLiteral("/CN=test root"),
                                      QStringLiteral("-days"), QStringLiteral("2")}));
        trusted = file("root.pem");
        QString issuer = QStringLiteral("root");
        if (kind == QLatin1String("missing-intermediate")) {
            QVERIFY(openssl(QStringList{QStringLiteral("req")} + key("inter.key")
                            + QStringList{QStringLiteral("-out"), file("inter.csr"), QStringLiteral("-subj"), QStringLiteral("/CN=test intermediate")}));
            QVERIFY(openssl({QStringLiteral("x509"), QStringLiteral("-req"), QStringLiteral("-in"), file("inter.csr"),
                             QStringLiteral("-CA"), file("root.pem"), QStringLiteral("-CAkey"), file("root.key"),
                             QStringLiteral("-CAcreateserial"), QStringLiteral("-out"), file("inter.pem"),
                             QStringLiteral("-days"), QStringLiteral("2"), QStringLiteral("-extfile"), file("ca.ext")}));
            issuer = QStringLiteral("inter");
        }
        QVERIFY(openssl(QStringList{QStringLiteral("req")} + key("leaf.key")
                        + QStringList{QStringLiteral("-out"), file("leaf.csr"), QStringLiteral("-subj"), QStringLiteral("/CN=bad.test")}));
        QVERIFY(openssl({QStringLiteral("x509"), QStringLiteral("-req"), QStringLiteral("-in"), file("leaf.csr"),
                         QStringLiteral("-CA"), directory.filePath(issuer + QStringLiteral(".pem")),
                         QStringLiteral("-CAkey"), directory.filePath(issuer + QStringLiteral(".key")),
                         QStringLiteral("-CAcreateserial"), QStringLiteral("-out"), file("leaf.pem"),
                         QStringLiteral("-days"), kind == QLatin1String("expired") ? QStringLiteral("-1") : QStringLiteral("2"),
                         QStringLiteral("-extfile"), file("leaf.ext")}));
    }
    // The server sends its leaf alone: a missing intermediate stays missing.
    const quint16 serverPort = unusedPort();
    QProcess broken;
    broken.start(QStandardPaths::findExecutable(QStringLiteral("openssl")),
                 {QStringLiteral("s_server"), QStringLiteral("-accept"), QStringLiteral("127.0.0.1:%1").arg(serverPort),
                  QStringLiteral("-cert"), file("leaf.pem"), QStringLiteral("-key"), file("leaf.key"),
                  QStringLiteral("-www"), QStringLiteral("-quiet")});
    QVERIFY(broken.waitForStarted(10'000));
    QVERIFY(QTest::qWaitFor([&] { return connectTo("127.0.0.1", serverPort).isValid(); }, 10'000));

    RunningProxy proxy;
    ProxyConfig config = forwardingTo(serverPort);
    config.upstreamCaFile = trusted;
    QVERIFY(proxy.start(config));
    const QStringList arguments{QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                                QStringLiteral("--resolve"), QStringLiteral("bad.test:%1:127.0.0.1").arg(proxy.port()),
                                QStringLiteral("--cacert"), m_proxymonCa, QStringLiteral("-i"),
                                QStringLiteral("https://bad.test:%1/").arg(proxy.port())};
    const ToolRun answered = ToolRun::run(QStringLiteral("curl"), arguments);
    QVERIFY2(answered.out.startsWith("HTTP/1.1 502 Bad Gateway\r\n"), answered.out.constData());
    QVERIFY2(answered.out.toLower().contains(reason.toLower().toUtf8()), answered.out.constData());
    QVERIFY2(answered.out.contains("--insecure-host bad.test"), answered.out.constData());
    proxy.server.interception().addHost(TlsInterception::Hosts::Insecure, QStringLiteral("bad.test"));
    const ToolRun allowed = ToolRun::run(QStringLiteral("curl"), arguments);
    QVERIFY2(allowed.out.startsWith("HTTP/1.0 200 ok\r\n"), allowed.out.constData());
    QVERIFY(proxy.records.waitForClosed(2));
    broken.kill();
    broken.waitForFinished(5'000);
}

void tst_Interception::passthroughListAndDecryptionOff()
{
    TlsTestServer upstream(*m_testAuthority, Behaviour::Hello, {QStringLiteral("www.skip.test")});
    const auto fetch = [&](ProxyServer &server) {
        return ToolRun::run(QStringLiteral("curl"), {
            QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
            QStringLiteral("--resolve"), QStringLiteral("www.skip.test:%1:127.0.0.1").arg(server.listenPort()),
            QStringLiteral("--cacert"), m_testAuthority->certificatePath(),
            QStringLiteral("https://www.skip.test:%1/").arg(server.listenPort())});
    };
    {
        RunningProxy proxy;
        ProxyConfig config = forwardingTo(upstream.port());
        config.passthroughHosts = {QStringLiteral("*.skip.test")};
        QVERIFY(proxy.start(config));
        const ToolRun passed = fetch(proxy.server);
        QVERIFY2(passed.exitCode == 0, passed.err.constData());
        QCOMPARE(passed.out, QByteArray("hello"));
        const ConnectionRecord record = proxy.records.waitForOnlyClosed();
        QCOMPARE(record.decryption, Decryption::Passthrough);
        QVERIFY2(record.decryptionNote.contains(QStringLiteral("passthrough list")), qPrintable(record.decryptionNote));
    }
    {
        RunningProxy proxy;
        ProxyConfig config = forwardingTo(upstream.port());
        config.decrypt = false;
        QVERIFY(proxy.start(config));
        const ToolRun passed = fetch(proxy.server);
        QVERIFY2(passed.exitCode == 0, passed.err.constData());
        const ConnectionRecord record = proxy.records.waitForOnlyClosed();
        QCOMPARE(record.decryption, Decryption::Passthrough);
        QCOMPARE(record.decryptionNote, QStringLiteral("decryption is off"));
        // Turned on while it runs: the next connection is decrypted.
        proxy.server.setDecryption(true);
        proxy.records.clear();
        const ToolRun refused = fetch(proxy.server);
        QCOMPARE(refused.exitCode, 60);
    }
}

void tst_Interception::silentCloseAfterHandshakeIsARejection()
{
    // A client that pins its certificates completes the handshake, finds
    // the wrong key and leaves without a byte: that too is a rejection.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Echo, {QStringLiteral("pin.test")});
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingTo(upstream.port())));
    ToolRun::run(QStringLiteral("openssl"), {QStringLiteral("s_client"), QStringLiteral("-connect"),
                                    QStringLiteral("127.0.0.1:%1").arg(proxy.port()),
                                    QStringLiteral("-servername"), QStringLiteral("pin.test")}, "Q\n");
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::Rejected);
    QVERIFY2(record.decryptionNote.contains(QStringLiteral("without a byte")), qPrintable(record.decryptionNote));
    QCOMPARE(proxy.server.interception().rejections().value(0).host, QStringLiteral("pin.test"));
}

void tst_Interception::proxymonTestServesTheAuthority()
{
    // Through the HTTP proxy, http://proxymon.test/ is proxymon's own page:
    // its certificate to download and how to trust it; over https it says
    // whether interception works for the client asking.
    RunningProxy proxy;
    QVERIFY(proxy.start(httpProxy()));
    const QString proxyUrl = QStringLiteral("http://127.0.0.1:%1").arg(proxy.port());
    const auto fetch = [&](const QString &url, const QString &trusted) {
        QStringList arguments{QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                              QStringLiteral("-x"), proxyUrl, url};
        if (!trusted.isEmpty())
            arguments << QStringLiteral("--cacert") << trusted;
        return ToolRun::run(QStringLiteral("curl"), arguments);
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
    QVERIFY(proxy.records.waitForClosed(5));
    bool sawDecrypted = false;
    for (const ConnectionRecord &record : proxy.records.closed()) {
        QVERIFY2(record.upstream.startsWith(QStringLiteral("proxymon.test:")), qPrintable(record.upstream));
        sawDecrypted |= record.decryption == Decryption::Decrypted;
    }
    QVERIFY(sawDecrypted);
}

void tst_Interception::replacedAuthorityServesTheNextStart()
{
    // The user replaced proxymon's authority (trust dialog, --ca-replace):
    // the next start signs with the new one, which is what they were just
    // told to trust.
    const QString directory = m_directory.filePath(QStringLiteral("replaced"));
    TlsTestServer upstream(*m_testAuthority, Behaviour::Hello, {QStringLiteral("new.test")});
    RunningProxy proxy;
    ProxyConfig config = forwardingTo(upstream.port());
    config.caDirectory = directory;
    const auto fetch = [&](const QString &trusted) {
        return ToolRun::run(QStringLiteral("curl"), {
            QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"), QStringLiteral("--cacert"), trusted,
            QStringLiteral("--resolve"), QStringLiteral("new.test:%1:127.0.0.1").arg(proxy.port()),
            QStringLiteral("https://new.test:%1/").arg(proxy.port())}).exitCode;
    };
    QVERIFY(proxy.start(config));
    const QString first = m_directory.filePath(QStringLiteral("first-ca.pem"));
    QVERIFY(QFile::copy(directory + QStringLiteral("/proxymon-ca.pem"), first));
    QCOMPARE(fetch(first), 0);
    proxy.server.stop();
    QTRY_VERIFY(!proxy.server.isDraining());

    QString error;
    QVERIFY2(CertificateAuthority::replace(directory, &error), qPrintable(error));
    proxy.server.interception().forgetRejection(QStringLiteral("new.test"));
    QVERIFY(proxy.start(config));
    QCOMPARE(fetch(directory + QStringLiteral("/proxymon-ca.pem")), 0);
    QCOMPARE(fetch(first), 60);
}

QTEST_GUILESS_MAIN(tst_Interception)
#include "tst_interception.moc"
