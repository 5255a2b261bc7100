// TLS interception end to end: curl and openssl s_client as clients that
// trust (or do not trust) proxymon's authority, TLS servers with a test
// authority's certificates as upstreams, and proxymon in between in both
// modes, showing what was inside.
#include "certificateauthority.h"
#include "faultrule.h"
#include "loopback.h"
#include "proxyserver.h"
#include "recordcollector.h"
#include "replayrequest.h"
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

// A blocking TLS client of proxymon's, in the test's own hands: what it
// sends, how it ends (close_notify, a bare FIN, a reset), how it reads.
class TlsClient
{
public:
    TlsClient(quint16 port, const QString &trusted, const char *name)
        : m_socket(connectTo("127.0.0.1", port))
        , m_context(SSL_CTX_new(TLS_client_method()))
    {
        SSL_CTX_load_verify_locations(m_context, QFile::encodeName(trusted).constData(), nullptr);
        SSL_CTX_set_verify(m_context, SSL_VERIFY_PEER, nullptr);
        m_ssl = SSL_new(m_context);
        SSL_set_fd(m_ssl, m_socket.fd());
        SSL_set_tlsext_host_name(m_ssl, name);
        SSL_set1_host(m_ssl, name);
        m_connected = SSL_connect(m_ssl) == 1;
    }
    ~TlsClient()
    {
        SSL_free(m_ssl);
        SSL_CTX_free(m_context);
    }
    bool connected() const { return m_connected; }
    bool write(const QByteArray &data)
    {
        size_t done = 0;
        return SSL_write_ex(m_ssl, data.constData(), size_t(data.size()), &done) == 1;
    }
    QByteArray readSome(size_t most = 65536)
    {
        QByteArray buffer(qsizetype(most), Qt::Uninitialized);
        size_t got = 0;
        return SSL_read_ex(m_ssl, buffer.data(), most, &got) == 1 ? buffer.left(qsizetype(got)) : QByteArray();
    }
    // Reads until the stream ends; *clean: it ended with close_notify.
    QByteArray readToEnd(bool *clean)
    {
        QByteArray all;
        for (QByteArray piece; !(piece = readSome()).isEmpty();)
            all += piece;
        *clean = SSL_get_error(m_ssl, 0) == SSL_ERROR_ZERO_RETURN;
        return all;
    }
    void closeNotifyAndFin()
    {
        SSL_shutdown(m_ssl);
        m_socket.shutdownWrite();
    }
    void finWithoutCloseNotify() { m_socket.shutdownWrite(); }
    void reset() { m_socket.reset(); }
    SSL *ssl() const { return m_ssl; }

private:
    Socket m_socket;
    SSL_CTX *m_context;
    SSL *m_ssl = nullptr;
    bool m_connected = false;
};

bool writeTextFile(const QString &path, const QByteArray &text)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(text) == text.size();
}

qint64 residentKib()
{
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n')) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').first().toLongLong();
    }
    return -1;
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
    void badUpstreamCertificates_data();
    void badUpstreamCertificates();
    void passthroughListAndDecryptionOff();
    void serverFirstProtocolIsRelayedAsIs();
    void labFlowAndHalfCloseThroughTls();
    void silentCloseAfterHandshakeIsARejection();
    void proxymonTestServesTheAuthority();
    void keyLogDecryptsBothLegsInTshark();
    void bigBodiesBothWaysOnKeepAlive();
    void endWithoutCloseNotifyIsPassedOnAndFlagged();
    void resetIsPassedOnAsReset();
    void slowReaderOfAGigabyteHoldsLittle();
    void replacedAuthorityServesTheNextStart();
    void decryptedExchangesAreResentOverTls();
    void httpFaultsInsideDecryptedTls();

private:
    // curl -x through the proxy: POSTs the bytes to origin's /upload over
    // a decrypted CONNECT tunnel (the server answers with their digest).
    ToolRun uploadThroughProxy(const ProxyServer &server, const QString &origin, const QByteArray &upload,
                               const QString &name);
    // Sends the request again through the proxy, as the window's Resend.
    ReplayClient::Outcome resend(const ReplayRequest &request, const ProxyServer &server);
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
    const QString origin = QStringLiteral("https://localhost:%1").arg(upstream.port());
    const ToolRun curl = uploadThroughProxy(server, origin, upload, QStringLiteral("upload"));
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
        // And `openssl verify` accepts the leaf on its own.
        const qsizetype begin = client.out.indexOf("-----BEGIN CERTIFICATE-----");
        const qsizetype end = client.out.indexOf("-----END CERTIFICATE-----");
        QVERIFY(begin >= 0 && end > begin);
        const QString leaf = m_directory.filePath(QStringLiteral("leaf-%1.pem").arg(rsaOnly));
        QVERIFY(writeTextFile(leaf, client.out.mid(begin, end + 26 - begin)));
        const ToolRun verified = run(QStringLiteral("openssl"), {QStringLiteral("verify"), QStringLiteral("-CAfile"), m_proxymonCa,
                                                                 QStringLiteral("-verify_hostname"), QStringLiteral("leaf.test"), leaf});
        QVERIFY2(verified.exitCode == 0 && verified.out.contains(": OK"), verified.out + verified.err);
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
        const ToolRun made = run(QStringLiteral("openssl"), arguments);
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

    ProxyServer server;
    RecordCollector records(&server);
    ProxyConfig config = forwardingTo(serverPort);
    config.upstreamCaFile = trusted;
    QVERIFY(server.start(config));
    const QStringList arguments{QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                                QStringLiteral("--resolve"), QStringLiteral("bad.test:%1:127.0.0.1").arg(server.listenPort()),
                                QStringLiteral("--cacert"), m_proxymonCa, QStringLiteral("-i"),
                                QStringLiteral("https://bad.test:%1/").arg(server.listenPort())};
    const ToolRun answered = run(QStringLiteral("curl"), arguments);
    QVERIFY2(answered.out.startsWith("HTTP/1.1 502 Bad Gateway\r\n"), answered.out.constData());
    QVERIFY2(answered.out.toLower().contains(reason.toLower().toUtf8()), answered.out.constData());
    QVERIFY2(answered.out.contains("--insecure-host bad.test"), answered.out.constData());
    server.interception().addHost(TlsInterception::Hosts::Insecure, QStringLiteral("bad.test"));
    const ToolRun allowed = run(QStringLiteral("curl"), arguments);
    QVERIFY2(allowed.out.startsWith("HTTP/1.0 200 ok\r\n"), allowed.out.constData());
    QVERIFY(records.waitForClosed(2));
    broken.kill();
    broken.waitForFinished(5'000);
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
        TlsClient client(server.listenPort(), m_proxymonCa, "lab.test");
        if (!client.connected())
            return QByteArray();
        std::thread writer([&] {
            client.write(data);
            client.closeNotifyAndFin();
        });
        const QByteArray received = client.readToEnd(&clean);
        writer.join();
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

void tst_Interception::endWithoutCloseNotifyIsPassedOnAndFlagged()
{
    // The client's FIN without close_notify reaches the upstream as a FIN
    // without one: a truncation stays a truncation, and the record flags
    // it. (OpenSSL answers a truncation with a decode_error alert, which
    // the record then names as the upstream's.)
    TlsTestServer upstream(*m_testAuthority, Behaviour::Echo, {QStringLiteral("cut.test")});
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(forwardingTo(upstream.port())));
    bool clean = true;
    const QByteArray echoed = offThread([&] {
        TlsClient client(server.listenPort(), m_proxymonCa, "cut.test");
        if (!client.connected() || !client.write("ping"))
            return QByteArray();
        QByteArray got = client.readSome();
        client.finWithoutCloseNotify();
        got += client.readToEnd(&clean);
        return got;
    });
    QCOMPARE(echoed, QByteArray("ping"));
    QVERIFY(!clean);
    const ConnectionRecord record = records.waitForOnlyClosed();
    QVERIFY(upstream.sawTruncation());
    QVERIFY(!upstream.sawCloseNotify());
    QVERIFY(record.tlsTruncated);
    QVERIFY2(record.closeReason == Reason::ClientFin || record.error.startsWith(QStringLiteral("upstream: TLS: ")),
             qPrintable(record.error));
}

void tst_Interception::resetIsPassedOnAsReset()
{
    TlsTestServer upstream(*m_testAuthority, Behaviour::Echo, {QStringLiteral("rst.test")});
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(forwardingTo(upstream.port())));
    const QByteArray echoed = offThread([&] {
        TlsClient client(server.listenPort(), m_proxymonCa, "rst.test");
        if (!client.connected() || !client.write("ping"))
            return QByteArray();
        const QByteArray got = client.readSome();
        client.reset();
        return got;
    });
    QCOMPARE(echoed, QByteArray("ping"));
    const ConnectionRecord record = records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::ClientReset);
    QVERIFY(!upstream.sawCloseNotify());
}

void tst_Interception::slowReaderOfAGigabyteHoldsLittle()
{
    // The upstream offers 1 GiB as fast as it can; the client reads a
    // little, then nothing for a while: proxymon stops reading from the
    // upstream (backpressure) instead of holding what it sends, and the
    // whole gigabyte then arrives intact.
    constexpr qint64 Size = qint64(1) << 30;
    TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("slow.test")});
    ProxyServer server;
    RecordCollector records(&server);
    QVERIFY(server.start(forwardingTo(upstream.port())));
    qint64 grewKib = -1;
    qint64 received = 0;
    bool intact = true;
    offThread([&] {
        TlsClient client(server.listenPort(), m_proxymonCa, "slow.test");
        if (!client.connected()
            || !client.write("GET /stream/" + QByteArray::number(Size) + " HTTP/1.1\r\nHost: slow.test\r\n\r\n"))
            return 0;
        QByteArray head = client.readSome(256);
        const qsizetype end = head.indexOf("\r\n\r\n");
        if (end < 0)
            return 0;
        QByteArray body = head.mid(end + 4);
        const qint64 before = residentKib();
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        grewKib = residentKib() - before;
        const QByteArray &chunk = TlsTestServer::streamChunk();
        for (;;) {
            for (qsizetype i = 0; i < body.size(); ++i) {
                if (body[i] != chunk[(received + i) % chunk.size()]) {
                    intact = false;
                    break;
                }
            }
            received += body.size();
            if (received >= Size || !intact)
                break;
            body = client.readSome();
            if (body.isEmpty())
                break;
        }
        return 0;
    }, 240'000);
    QVERIFY2(grewKib >= 0 && grewKib < 32 * 1024, qPrintable(QStringLiteral("%1 KiB more while stalled").arg(grewKib)));
    QCOMPARE(received, Size);
    QVERIFY(intact);
}

void tst_Interception::replacedAuthorityServesTheNextStart()
{
    // The user replaced proxymon's authority (trust dialog, --ca-replace):
    // the next start signs with the new one, which is what they were just
    // told to trust.
    const QString directory = m_directory.filePath(QStringLiteral("replaced"));
    TlsTestServer upstream(*m_testAuthority, Behaviour::Hello, {QStringLiteral("new.test")});
    ProxyServer server;
    RecordCollector records(&server);
    ProxyConfig config = forwardingTo(upstream.port());
    config.caDirectory = directory;
    const auto fetch = [&](const QString &trusted) {
        return run(QStringLiteral("curl"), {
            QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"), QStringLiteral("--cacert"), trusted,
            QStringLiteral("--resolve"), QStringLiteral("new.test:%1:127.0.0.1").arg(server.listenPort()),
            QStringLiteral("https://new.test:%1/").arg(server.listenPort())}).exitCode;
    };
    QVERIFY(server.start(config));
    const QString first = m_directory.filePath(QStringLiteral("first-ca.pem"));
    QVERIFY(QFile::copy(directory + QStringLiteral("/proxymon-ca.pem"), first));
    QCOMPARE(fetch(first), 0);
    server.stop();
    QTRY_VERIFY(!server.isDraining());

    QString error;
    QVERIFY2(CertificateAuthority::replace(directory, &error), qPrintable(error));
    server.interception().forgetRejection(QStringLiteral("new.test"));
    QVERIFY(server.start(config));
    QCOMPARE(fetch(directory + QStringLiteral("/proxymon-ca.pem")), 0);
    QCOMPARE(fetch(first), 60);
}

ToolRun tst_Interception::uploadThroughProxy(const ProxyServer &server, const QString &origin, const QByteArray &upload,
                                             const QString &name)
{
    const QString uploadPath = m_directory.filePath(name);
    QFile file(uploadPath);
    if (!file.open(QIODevice::WriteOnly) || file.write(upload) != upload.size())
        return ToolRun{};
    file.close();
    return run(QStringLiteral("curl"), {
        QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
        QStringLiteral("-x"), QStringLiteral("http://127.0.0.1:%1").arg(server.listenPort()),
        QStringLiteral("--cacert"), m_proxymonCa,
        QStringLiteral("--data-binary"), QStringLiteral("@") + uploadPath, origin + QStringLiteral("/upload")});
}

ReplayClient::Outcome tst_Interception::resend(const ReplayRequest &request, const ProxyServer &server)
{
    ReplayRequest::Listener listener;
    listener.host = QStringLiteral("127.0.0.1");
    listener.port = server.listenPort();
    listener.httpProxy = server.config().mode == ProxyConfig::Mode::HttpProxy;
    listener.authorityFile = server.authorityCertificatePath();
    QString error;
    const ReplayClient::Plan plan = request.plan(listener, &error);
    if (!error.isEmpty()) {
        ReplayClient::Outcome failed;
        failed.error = error;
        return failed;
    }
    ReplayClient client;
    QSignalSpy finished(&client, &ReplayClient::finished);
    client.start(plan);
    if (!finished.wait(20'000)) {
        ReplayClient::Outcome failed;
        failed.error = QStringLiteral("no outcome in 20 s");
        return failed;
    }
    return finished.first().first().value<ReplayClient::Outcome>();
}

void tst_Interception::decryptedExchangesAreResentOverTls()
{
    // Forwarding: the client spoke TLS to proxymon, so the resend does too
    // (trusting proxymon's authority) and proxymon decrypts it again.
    {
        TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("test.example")});
        ProxyServer server;
        RecordCollector records(&server);
        QVERIFY2(server.start(forwardingTo(upstream.port())), qPrintable(server.errorString()));
        QCOMPARE(server.authorityCertificatePath(), m_proxymonCa);
        const QString origin = QStringLiteral("https://test.example:%1").arg(server.listenPort());
        const ToolRun curl = run(QStringLiteral("curl"), {
            QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"), QStringLiteral("--cacert"), m_proxymonCa,
            QStringLiteral("--resolve"), QStringLiteral("test.example:%1:127.0.0.1").arg(server.listenPort()),
            QStringLiteral("-o"), QStringLiteral("/dev/null"), origin + QStringLiteral("/bytes/5000")});
        QVERIFY2(curl.exitCode == 0, curl.err.constData());
        QVERIFY(records.waitForExchanges(1));
        const HttpExchange original = records.exchanges().first();
        const ReplayClient::Outcome outcome = resend(ReplayRequest::from(original, true), server);
        QVERIFY2(outcome.error.isEmpty(), qPrintable(outcome.error));
        QCOMPARE(outcome.status, 200);
        QVERIFY(records.waitForExchanges(2));
        const HttpExchange again = records.exchanges().at(1);
        QVERIFY(again.secure);
        QCOMPARE(again.url(), original.url());
        QCOMPARE(again.responseBodyBytes, 5000u);
        QVERIFY(records.waitForClosed(2));
        for (const ConnectionRecord &record : records.closed())
            QCOMPARE(record.decryption, Decryption::Decrypted);
    }
    // HTTP proxy: a CONNECT tunnel first, then TLS inside it; the body goes
    // up again byte for byte (the server answers with its digest).
    {
        TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("localhost")});
        ProxyServer server;
        RecordCollector records(&server);
        QVERIFY2(server.start(httpProxy()), qPrintable(server.errorString()));
        const QByteArray upload = randomBytes(300'000, 12);
        const QString origin = QStringLiteral("https://localhost:%1").arg(upstream.port());
        const ToolRun curl = uploadThroughProxy(server, origin, upload, QStringLiteral("resend-upload"));
        QVERIFY2(curl.exitCode == 0, curl.err.constData());
        QVERIFY(records.waitForExchanges(2));
        const HttpExchange original = records.exchanges().at(1);
        QCOMPARE(original.requestBodyBytes, quint64(upload.size()));
        const ReplayClient::Outcome outcome = resend(ReplayRequest::from(original, false), server);
        QVERIFY2(outcome.error.isEmpty(), qPrintable(outcome.error));
        QCOMPARE(outcome.status, 200);
        QVERIFY(records.waitForExchanges(4));
        const HttpExchange again = records.exchanges().at(3);
        QCOMPARE(records.exchanges().at(2).request.method(), QByteArrayView("CONNECT"));
        QCOMPARE(again.url(), original.url());
        QCOMPARE(again.requestBodyBytes, quint64(upload.size()));
        QCOMPARE(again.responseBody, curl.out);
    }
}

QTEST_GUILESS_MAIN(tst_Interception)
void tst_Interception::httpFaultsInsideDecryptedTls()
{
    // HTTP faults act on what is inside TLS once proxymon decrypts it: an
    // answer in place of the upstream's, a body cut short, over the
    // client's TLS, forwarding and inside an HTTP proxy's CONNECT.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("test.example"), QStringLiteral("localhost")});
    QList<RuleSet::Text> faults;
    for (const char *text : {"status:code=503,path=^/again", "cut-body:bytes=1000,path=^/bytes/"})
        faults.append({QStringLiteral("fault"), QString::fromLatin1(text)});
    for (const bool viaProxy : {false, true}) {
        ProxyConfig config = viaProxy ? httpProxy() : forwardingTo(upstream.port());
        QString error;
        QVERIFY2(config.rules.addTexts({}, faults, &error), qPrintable(error));
        ProxyServer server;
        QVERIFY2(server.start(config), qPrintable(server.errorString()));
        const QString origin = viaProxy ? QStringLiteral("https://localhost:%1").arg(upstream.port())
                                        : QStringLiteral("https://test.example:%1").arg(server.listenPort());
        QStringList common = {QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                              QStringLiteral("--cacert"), m_proxymonCa};
        if (viaProxy)
            common << QStringLiteral("-x") << QStringLiteral("http://127.0.0.1:%1").arg(server.listenPort());
        else
            common << QStringLiteral("--resolve") << QStringLiteral("test.example:%1:127.0.0.1").arg(server.listenPort());

        const QString answer = m_directory.filePath(QStringLiteral("answer-%1").arg(viaProxy));
        const ToolRun answered = run(QStringLiteral("curl"), common + QStringList{
            QStringLiteral("-w"), QStringLiteral("%{http_code}"), QStringLiteral("-o"), answer, origin + QStringLiteral("/again")});
        QVERIFY2(answered.exitCode == 0, answered.err.constData());
        QCOMPARE(answered.out, QByteArray("503"));
        QFile answerFile(answer);
        QVERIFY(answerFile.open(QIODevice::ReadOnly));
        QVERIFY(answerFile.readAll().contains("answer 503 to GET /again"));

        const QString cut = m_directory.filePath(QStringLiteral("cut-%1").arg(viaProxy));
        const ToolRun truncated = run(QStringLiteral("curl"), common + QStringList{
            QStringLiteral("-o"), cut, origin + QStringLiteral("/bytes/300001")});
        QVERIFY2(truncated.exitCode != 0, "curl took a cut body for a whole one");
        QFile cutFile(cut);
        QVERIFY(cutFile.open(QIODevice::ReadOnly));
        QCOMPARE(sha256(cutFile.readAll()), sha256(randomBytes(300001, 7).left(1000)));
    }
}

#include "tst_interception.moc"
