// Relaying through decrypted TLS end to end: what passes inside both TLS
// legs stays exact (server-first protocols, the lab's half-close, big
// bodies both ways, a gigabyte to a slow reader), how a TLS stream's end
// and a reset are passed on, the key log tshark decrypts with, resending a
// decrypted exchange, and HTTP faults inside TLS.

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

class tst_DecryptedRelay : public QObject, private InterceptionFixture
{
    Q_OBJECT
private slots:
    void initTestCase();
    void serverFirstProtocolIsRelayedAsIs();
    void labFlowAndHalfCloseThroughTls();
    void keyLogDecryptsBothLegsInTshark();
    void bigBodiesBothWaysOnKeepAlive();
    void endWithoutCloseNotifyIsPassedOnAndFlagged();
    void resetIsPassedOnAsReset();
    void slowReaderOfAGigabyteHoldsLittle();
    void decryptedExchangesAreResentOverTls();
    void httpFaultsInsideDecryptedTls();
};

void tst_DecryptedRelay::initTestCase()
{
    QString why;
    QVERIFY2(prepare(&why), qPrintable(why));
}

void tst_DecryptedRelay::serverFirstProtocolIsRelayedAsIs()
{
    // An upstream that speaks first (SMTP's banner) is not kept waiting
    // for a ClientHello that will never come.
    ScriptedServer smtp([](Socket &connection, int) {
        sendAll(connection.fd(), "220 smtp.test ready\r\n");
        const QByteArray command = readExactly(connection.fd(), 6);
        sendAll(connection.fd(), "221 " + command);
    });
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingTo(smtp.port())));
    const QByteArray seen = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        QByteArray all = readExactly(client.fd(), 21);
        sendAll(client.fd(), "QUIT\r\n");
        all += readUntilEof(client.fd());
        return all;
    });
    QCOMPARE(seen, QByteArray("220 smtp.test ready\r\n221 QUIT\r\n"));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::None);
    QCOMPARE(record.bytesUp, 6u);
}

void tst_DecryptedRelay::labFlowAndHalfCloseThroughTls()
{
    // The lab's client over TLS: send everything, close_notify and FIN,
    // read to the end. proxymon passes the close_notify on as one, the
    // echo keeps flowing back, and the server's close_notify comes back.
    TlsTestServer upstream(*m_testAuthority, Behaviour::Echo, {QStringLiteral("lab.test")});
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingTo(upstream.port())));
    const QByteArray data = randomBytes(4 * 1024 * 1024 + 5, 5);
    bool clean = false;
    QString error;
    const QByteArray echoed = offThread([&] {
        TlsClient client(proxy.port(), m_proxymonCa, "lab.test");
        if (!client.connected()) {
            error = QStringLiteral("no handshake");
            return QByteArray();
        }
        return client.exchange(data, &clean, &error);
    }, 90'000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(echoed.size(), data.size());
    QCOMPARE(sha256(echoed), sha256(data));
    QVERIFY(clean);
    QVERIFY(upstream.sawCloseNotify());
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::Decrypted);
    QCOMPARE(record.closeReason, Reason::ClientFin);
    QVERIFY(!record.tlsTruncated);
    QVERIFY(record.raw);
}

void tst_DecryptedRelay::keyLogDecryptsBothLegsInTshark()
{
    // A packet capture of loopback holds both legs encrypted; with the key
    // log proxymon wrote, Wireshark's tshark reads the request on each.
    for (const char *tool : {"tcpdump", "tshark"})
        QVERIFY2(!QStandardPaths::findExecutable(QString::fromLatin1(tool), {QStringLiteral("/usr/bin"), QStringLiteral("/usr/sbin")}).isEmpty(),
                 qPrintable(QStringLiteral("%1 is not installed (scripts/test.sh installs it)").arg(QString::fromLatin1(tool))));
    TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("wire.test")});
    RunningProxy proxy;
    ProxyConfig config = forwardingTo(upstream.port());
    const QString keys = m_directory.filePath(QStringLiteral("wire-keys.log"));
    config.keyLogFile = keys;
    QVERIFY(proxy.start(config));
    const quint16 port = proxy.port();
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
    const ToolRun curl = ToolRun::run(QStringLiteral("curl"), {
        QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"), QStringLiteral("--cacert"), m_proxymonCa,
        QStringLiteral("--resolve"), QStringLiteral("wire.test:%1:127.0.0.1").arg(port),
        QStringLiteral("https://wire.test:%1/bytes/1234").arg(port)});
    QVERIFY2(curl.exitCode == 0, curl.err.constData());
    QCOMPARE(curl.out, randomBytes(1234, 7));
    QVERIFY(proxy.records.waitForClosed(1));
    QTest::qWait(300); // the last packets reach the capture file
    tcpdump.terminate();
    QVERIFY(tcpdump.waitForFinished(10'000));

    const auto requests = [&](const QStringList &options) {
        QStringList arguments{QStringLiteral("-r"), capture, QStringLiteral("-d"), QStringLiteral("tcp.port==%1,tls").arg(port),
                              QStringLiteral("-d"), QStringLiteral("tcp.port==%1,tls").arg(upstream.port())};
        arguments << options << QStringLiteral("-Y") << QStringLiteral("http.request") << QStringLiteral("-T")
                  << QStringLiteral("fields") << QStringLiteral("-e") << QStringLiteral("tcp.dstport") << QStringLiteral("-e")
                  << QStringLiteral("http.request.uri");
        return ToolRun::run(QStringLiteral("tshark"), arguments).out.trimmed();
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

void tst_DecryptedRelay::bigBodiesBothWaysOnKeepAlive()
{
    // 64 MiB up, then 64 MiB down, on one kept-alive intercepted connection:
    // both bodies byte-exact (the server answers the upload with its
    // SHA-256), and the capture counts them whole.
    constexpr qsizetype Size = 64 * 1024 * 1024;
    TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("big.test")});
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingTo(upstream.port())));
    const QByteArray upload = randomBytes(Size, 21);
    const QString uploadPath = m_directory.filePath(QStringLiteral("big-upload"));
    const QString downloadPath = m_directory.filePath(QStringLiteral("big-download"));
    {
        QFile file(uploadPath);
        QVERIFY(file.open(QIODevice::WriteOnly));
        QCOMPARE(file.write(upload), Size);
    }
    const QString origin = QStringLiteral("https://big.test:%1").arg(proxy.port());
    const ToolRun curl = ToolRun::run(QStringLiteral("curl"), {
        QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("25"), QStringLiteral("--cacert"), m_proxymonCa,
        QStringLiteral("--resolve"), QStringLiteral("big.test:%1:127.0.0.1").arg(proxy.port()),
        QStringLiteral("--data-binary"), QStringLiteral("@") + uploadPath, origin + QStringLiteral("/upload"),
        QStringLiteral("--next"), QStringLiteral("--cacert"), m_proxymonCa,
        QStringLiteral("--resolve"), QStringLiteral("big.test:%1:127.0.0.1").arg(proxy.port()),
        QStringLiteral("-o"), downloadPath, origin + QStringLiteral("/bytes/%1").arg(Size)});
    QVERIFY2(curl.exitCode == 0, curl.err.constData());
    QCOMPARE(curl.out, QCryptographicHash::hash(upload, QCryptographicHash::Sha256).toHex());
    QFile download(downloadPath);
    QVERIFY(download.open(QIODevice::ReadOnly));
    QCOMPARE(sha256(download.readAll()), sha256(randomBytes(Size, 7)));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.decryption, Decryption::Decrypted);
    QCOMPARE(record.requests, 2u);
    QVERIFY(record.bytesUp > quint64(Size) && record.bytesDown > quint64(Size));
    QVERIFY(proxy.records.waitForExchanges(2));
    QCOMPARE(proxy.records.exchanges().at(0).requestBodyBytes, quint64(Size));
    QCOMPARE(proxy.records.exchanges().at(1).responseBodyBytes, quint64(Size));
}

void tst_DecryptedRelay::endWithoutCloseNotifyIsPassedOnAndFlagged()
{
    // The client's FIN without close_notify reaches the upstream as a FIN
    // without one: a truncation stays a truncation, and the record flags
    // it. (OpenSSL answers a truncation with a decode_error alert, which
    // the record then names as the upstream's.)
    TlsTestServer upstream(*m_testAuthority, Behaviour::Echo, {QStringLiteral("cut.test")});
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingTo(upstream.port())));
    bool clean = true;
    const QByteArray echoed = offThread([&] {
        TlsClient client(proxy.port(), m_proxymonCa, "cut.test");
        if (!client.connected() || !client.write("ping"))
            return QByteArray();
        QByteArray got = client.readSome();
        client.finWithoutCloseNotify();
        got += client.readToEnd(&clean);
        return got;
    });
    QCOMPARE(echoed, QByteArray("ping"));
    QVERIFY(!clean);
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QVERIFY(upstream.sawTruncation());
    QVERIFY(!upstream.sawCloseNotify());
    QVERIFY(record.tlsTruncated);
    QVERIFY2(record.closeReason == Reason::ClientFin || record.error.startsWith(QStringLiteral("upstream: TLS: ")),
             qPrintable(record.error));
}

void tst_DecryptedRelay::resetIsPassedOnAsReset()
{
    TlsTestServer upstream(*m_testAuthority, Behaviour::Echo, {QStringLiteral("rst.test")});
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingTo(upstream.port())));
    const QByteArray echoed = offThread([&] {
        TlsClient client(proxy.port(), m_proxymonCa, "rst.test");
        if (!client.connected() || !client.write("ping"))
            return QByteArray();
        const QByteArray got = client.readSome();
        client.reset();
        return got;
    });
    QCOMPARE(echoed, QByteArray("ping"));
    const ConnectionRecord record = proxy.records.waitForOnlyClosed();
    QCOMPARE(record.closeReason, Reason::ClientReset);
    QVERIFY(!upstream.sawCloseNotify());
}

void tst_DecryptedRelay::slowReaderOfAGigabyteHoldsLittle()
{
    // The upstream offers 1 GiB as fast as it can; the client reads a
    // little, then nothing for a while: proxymon stops reading from the
    // upstream (backpressure) instead of holding what it sends, and the
    // whole gigabyte then arrives intact.
    constexpr qint64 Size = qint64(1) << 30;
    TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("slow.test")});
    RunningProxy proxy;
    QVERIFY(proxy.start(forwardingTo(upstream.port())));
    bool measured = false; // the client got as far as the stall
    qint64 grewKib = 0;    // negative when the heap was trimmed meanwhile
    qint64 received = 0;
    bool intact = true;
    offThread([&] {
        TlsClient client(proxy.port(), m_proxymonCa, "slow.test");
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
        measured = true;
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
    QVERIFY2(measured && grewKib < 32 * 1024, qPrintable(QStringLiteral("%1 KiB more while stalled").arg(grewKib)));
    QCOMPARE(received, Size);
    QVERIFY(intact);
}

void tst_DecryptedRelay::decryptedExchangesAreResentOverTls()
{
    // Forwarding: the client spoke TLS to proxymon, so the resend does too
    // (trusting proxymon's authority) and proxymon decrypts it again.
    {
        TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("test.example")});
        RunningProxy proxy;
        QVERIFY(proxy.start(forwardingTo(upstream.port())));
        QCOMPARE(proxy.server.authorityCertificatePath(), m_proxymonCa);
        const QString origin = QStringLiteral("https://test.example:%1").arg(proxy.port());
        const ToolRun curl = ToolRun::run(QStringLiteral("curl"), {
            QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"), QStringLiteral("--cacert"), m_proxymonCa,
            QStringLiteral("--resolve"), QStringLiteral("test.example:%1:127.0.0.1").arg(proxy.port()),
            QStringLiteral("-o"), QStringLiteral("/dev/null"), origin + QStringLiteral("/bytes/5000")});
        QVERIFY2(curl.exitCode == 0, curl.err.constData());
        QVERIFY(proxy.records.waitForExchanges(1));
        const HttpExchange original = proxy.records.exchanges().first();
        const ReplayClient::Outcome outcome = resend(ReplayRequest::from(original, true), proxy.server);
        QVERIFY2(outcome.error.isEmpty(), qPrintable(outcome.error));
        QCOMPARE(outcome.status, 200);
        QVERIFY(proxy.records.waitForExchanges(2));
        const HttpExchange again = proxy.records.exchanges().at(1);
        QVERIFY(again.secure);
        QCOMPARE(again.url(), original.url());
        QCOMPARE(again.responseBodyBytes, 5000u);
        QVERIFY(proxy.records.waitForClosed(2));
        for (const ConnectionRecord &record : proxy.records.closed())
            QCOMPARE(record.decryption, Decryption::Decrypted);
    }
    // HTTP proxy: a CONNECT tunnel first, then TLS inside it; the body goes
    // up again byte for byte (the proxy.server answers with its digest).
    {
        TlsTestServer upstream(*m_testAuthority, Behaviour::Http, {QStringLiteral("localhost")});
        RunningProxy proxy;
        QVERIFY(proxy.start(httpProxy()));
        const QByteArray upload = randomBytes(300'000, 12);
        const QString origin = QStringLiteral("https://localhost:%1").arg(upstream.port());
        const ToolRun curl = uploadThroughProxy(proxy.server, origin, upload, QStringLiteral("resend-upload"));
        QVERIFY2(curl.exitCode == 0, curl.err.constData());
        QVERIFY(proxy.records.waitForExchanges(2));
        const HttpExchange original = proxy.records.exchanges().at(1);
        QCOMPARE(original.requestBodyBytes, quint64(upload.size()));
        const ReplayClient::Outcome outcome = resend(ReplayRequest::from(original, false), proxy.server);
        QVERIFY2(outcome.error.isEmpty(), qPrintable(outcome.error));
        QCOMPARE(outcome.status, 200);
        QVERIFY(proxy.records.waitForExchanges(4));
        const HttpExchange again = proxy.records.exchanges().at(3);
        QCOMPARE(proxy.records.exchanges().at(2).request.method(), QByteArrayView("CONNECT"));
        QCOMPARE(again.url(), original.url());
        QCOMPARE(again.requestBodyBytes, quint64(upload.size()));
        QCOMPARE(again.responseBody, curl.out);
    }
}

void tst_DecryptedRelay::httpFaultsInsideDecryptedTls()
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
        RunningProxy proxy;
        QVERIFY(proxy.start(config));
        const QString origin = viaProxy ? QStringLiteral("https://localhost:%1").arg(upstream.port())
                                        : QStringLiteral("https://test.example:%1").arg(proxy.port());
        QStringList common = {QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                              QStringLiteral("--cacert"), m_proxymonCa};
        if (viaProxy)
            common << QStringLiteral("-x") << QStringLiteral("http://127.0.0.1:%1").arg(proxy.port());
        else
            common << QStringLiteral("--resolve") << QStringLiteral("test.example:%1:127.0.0.1").arg(proxy.port());

        const QString answer = m_directory.filePath(QStringLiteral("answer-%1").arg(viaProxy));
        const ToolRun answered = ToolRun::run(QStringLiteral("curl"), common + QStringList{
            QStringLiteral("-w"), QStringLiteral("%{http_code}"), QStringLiteral("-o"), answer, origin + QStringLiteral("/again")});
        QVERIFY2(answered.exitCode == 0, answered.err.constData());
        QCOMPARE(answered.out, QByteArray("503"));
        QFile answerFile(answer);
        QVERIFY(answerFile.open(QIODevice::ReadOnly));
        QVERIFY(answerFile.readAll().contains("answer 503 to GET /again"));

        const QString cut = m_directory.filePath(QStringLiteral("cut-%1").arg(viaProxy));
        const ToolRun truncated = ToolRun::run(QStringLiteral("curl"), common + QStringList{
            QStringLiteral("-o"), cut, origin + QStringLiteral("/bytes/300001")});
        QVERIFY2(truncated.exitCode != 0, "curl took a cut body for a whole one");
        QFile cutFile(cut);
        QVERIFY(cutFile.open(QIODevice::ReadOnly));
        QCOMPARE(sha256(cutFile.readAll()), sha256(randomBytes(300001, 7).left(1000)));
    }
}

QTEST_GUILESS_MAIN(tst_DecryptedRelay)
#include "tst_decryptedrelay.moc"
