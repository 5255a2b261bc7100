// What headless proxymon writes to files a user opens elsewhere: bodies and
// HAR, samples and the timeline, the raw prefix kept, its CA.

#include "headlessprocess.h"
#include "loopback.h"
#include "sessionreader.h"

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <algorithm>
#include <csignal>
#include <sys/socket.h>

using namespace HeadlessProcess;
using namespace Loopback;

class tst_HeadlessFiles : public QObject
{
    Q_OBJECT

private slots:
    void caShowsWhereAndHowToTrust();
    void bodiesAndHarWhenStopped();
    void harToAPlaceThatCannotBeWritten();
    void samplesAndTimelineOfALiveTransfer();
    void rawPrefixBoundsWhatIsKept();
};

void tst_HeadlessFiles::caShowsWhereAndHowToTrust()
{
    // The data directory is the test's own.
    QTemporaryDir data;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("XDG_DATA_HOME"), data.path());
    const auto run = [&](const QStringList &arguments, QByteArray *output) {
        QProcess process;
        process.setProcessEnvironment(environment);
        process.start(QStringLiteral(PROXYMON_BINARY), arguments);
        if (!process.waitForFinished(20'000))
            return -1;
        *output = process.readAllStandardOutput() + process.readAllStandardError();
        return process.exitCode();
    };
    static const QRegularExpression fingerprint(QStringLiteral("SHA-256 fingerprint: ([0-9A-F:]{95})"));

    QByteArray first;
    QCOMPARE(run({QStringLiteral("--ca")}, &first), 0);
    const QString text = QString::fromUtf8(first);
    QVERIFY2(text.contains(QStringLiteral("(made now)")), first.constData());
    const QString path = QRegularExpression(QStringLiteral("certificate: (\\S+)")).match(text).captured(1);
    QVERIFY2(path.startsWith(data.path()) && QFile::exists(path), first.constData());
    for (const char *expected : {"update-ca-certificates", "certutil -d sql:", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"})
        QVERIFY2(text.contains(QLatin1String(expected)), expected);
    const QString made = fingerprint.match(text).captured(1);
    QVERIFY2(!made.isEmpty(), first.constData());

    // Kept: the same authority the next time, and a DER copy on request.
    QByteArray second;
    const QString der = data.path() + QStringLiteral("/proxymon-ca.der");
    QCOMPARE(run({QStringLiteral("--ca-export"), der}, &second), 0);
    QVERIFY(!QString::fromUtf8(second).contains(QStringLiteral("(made now)")));
    QCOMPARE(fingerprint.match(QString::fromUtf8(second)).captured(1), made);
    QFile derFile(der);
    QVERIFY(derFile.open(QIODevice::ReadOnly));
    QVERIFY(derFile.readAll().startsWith("\x30\x82")); // an ASN.1 SEQUENCE

    // Replaced only when asked.
    QByteArray third;
    QCOMPARE(run({QStringLiteral("--ca-replace")}, &third), 0);
    QVERIFY(fingerprint.match(QString::fromUtf8(third)).captured(1) != made);

    // A broken authority is reported, not replaced.
    QFile key(QFileInfo(path).path() + QStringLiteral("/proxymon-ca.key"));
    QVERIFY(key.open(QIODevice::WriteOnly));
    key.write("broken\n");
    key.close();
    QByteArray broken;
    QCOMPARE(run({QStringLiteral("--ca")}, &broken), 1);
    QVERIFY2(broken.contains("cannot read the key"), broken.constData());
}
void tst_HeadlessFiles::bodiesAndHarWhenStopped()
{
    // proxymon's own 502 for a refused upstream has a head and a body; the
    // stream with --bodies opens as a capture, the HAR passes the schema.
    QTemporaryDir dir;
    const QString jsonlPath = dir.filePath(QStringLiteral("session.jsonl"));
    const QString harPath = dir.filePath(QStringLiteral("capture.har"));
    const QString pcapngPath = dir.filePath(QStringLiteral("capture.pcapng"));
    QProcess process;
    QByteArray stderrSeen;
    const quint16 port = startProxy(process, {"--headless", "--mode", "http-proxy", "--listen", "127.0.0.1:0",
                                              "--jsonl", jsonlPath, "--bodies", "--har", harPath, "--pcapng", pcapngPath},
                                    &stderrSeen);
    QVERIFY2(port != 0, stderrSeen.constData());
    const QByteArray refused = "127.0.0.1:" + QByteArray::number(unusedPort());
    {
        Socket client = connectTo("127.0.0.1", port);
        QVERIFY(sendAll(client.fd(), "GET http://" + refused + "/x HTTP/1.1\r\nHost: " + refused + "\r\n\r\n"));
        QVERIFY(readUntilEof(client.fd()).startsWith("HTTP/1.1 502"));
    }
    QVERIFY(QTest::qWaitFor([&] {
        QFile file(jsonlPath);
        return file.open(QIODevice::ReadOnly) && file.readAll().contains("connection_closed");
    }, 10'000));
    ::kill(pid_t(process.processId()), SIGTERM);
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(process.exitCode(), 0);
    const QByteArray said = stderrSeen + process.readAllStandardError();
    QVERIFY2(said.contains("wrote 1 connections, 1 exchanges to " + harPath.toUtf8()), said.constData());

    const SessionReader::Result opened = SessionReader::readFile(jsonlPath);
    QVERIFY2(opened.ok(), qPrintable(opened.error));
    QCOMPARE(opened.exchanges.size(), 1);
    QCOMPARE(opened.exchanges.first().response.status, 502);
    QVERIFY(opened.exchanges.first().response.raw.startsWith("HTTP/1.1 502 Bad Gateway\r\n"));
    QVERIFY(!opened.exchanges.first().responseBody.isEmpty());
    QCOMPARE(quint64(opened.exchanges.first().responseBody.size()), opened.exchanges.first().responseBodyBytes);

    // The stream written out again without a proxy: HAR, a session, curl.
    const QString converted = dir.filePath(QStringLiteral("converted.har"));
    const QString session = dir.filePath(QStringLiteral("converted.jsonl"));
    const QString convertedPcapng = dir.filePath(QStringLiteral("converted.pcapng"));
    QProcess convert;
    convert.start(QStringLiteral(PROXYMON_BINARY), {"--headless", jsonlPath, "--har", converted, "--jsonl", session,
                                                    "--bodies", "--curl", "--pcapng", convertedPcapng});
    QVERIFY(convert.waitForFinished(20'000));
    QVERIFY2(convert.exitCode() == 0, convert.readAllStandardError().constData());
    const QByteArray commands = convert.readAllStandardOutput();
    QVERIFY2(commands.startsWith("# connection 1, exchange 1\ncurl "), commands.constData());
    QVERIFY(commands.contains("'http://" + refused + "/x'"));
    const SessionReader::Result again = SessionReader::readFile(session);
    QVERIFY2(again.ok(), qPrintable(again.error));
    QCOMPARE(again.kind, QStringLiteral("session"));
    QCOMPARE(again.exchanges.first().responseBody, opened.exchanges.first().responseBody);

    // Both pcapng files read in tshark and hold the proxy's 502 (only the
    // client leg: an HTTP proxy rewrites what goes upstream).
    for (const QString &pcapng : {pcapngPath, convertedPcapng}) {
        QProcess tshark;
        tshark.start(QStringLiteral("tshark"), {QStringLiteral("-r"), pcapng});
        QVERIFY(tshark.waitForFinished(30'000));
        QCOMPARE(tshark.exitCode(), 0);
        QVERIFY(tshark.readAllStandardOutput().contains("502 Bad Gateway"));
    }
    QFile first(pcapngPath), second(convertedPcapng);
    QVERIFY(first.open(QIODevice::ReadOnly) && second.open(QIODevice::ReadOnly));
    QCOMPARE(second.readAll(), first.readAll());

    for (const QString &har : {harPath, converted}) {
        QProcess node;
        node.start(QStringLiteral("node"), {QStringLiteral(PROXYMON_HAR_VALIDATOR), har});
        QVERIFY(node.waitForFinished(30'000));
        QVERIFY2(node.exitCode() == 0, node.readAllStandardError().constData());
    }

    // Not a capture: said with where, nothing written.
    const QString garbage = dir.filePath(QStringLiteral("garbage.txt"));
    {
        QFile file(garbage);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("hello\n");
    }
    QProcess refusedFile;
    refusedFile.start(QStringLiteral(PROXYMON_BINARY), {"--headless", garbage, "--har", dir.filePath("never.har")});
    QVERIFY(refusedFile.waitForFinished(20'000));
    QCOMPARE(refusedFile.exitCode(), 1);
    QVERIFY(refusedFile.readAllStandardError().contains("garbage.txt: line 1: not a proxymon session"));
    QVERIFY(!QFile::exists(dir.filePath("never.har")));
}
void tst_HeadlessFiles::harToAPlaceThatCannotBeWritten()
{
    QProcess process;
    process.start(QStringLiteral(PROXYMON_BINARY), {"--headless", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:9",
                                                    "--har", "/nonexistent-directory/capture.har"});
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(process.exitCode(), 1);
    const QByteArray said = process.readAllStandardError();
    QVERIFY2(said.contains("cannot write HAR to /nonexistent-directory/capture.har: no such directory"), said.constData());
}
void tst_HeadlessFiles::samplesAndTimelineOfALiveTransfer()
{
    // An upstream that sends 100,000 bytes every 100 ms for 1.5 s: about
    // 1,000,000 bytes/s, which the samples must say while it runs.
    constexpr int Pieces = 15;
    const QByteArray piece = randomBytes(100'000, 11);
    ScriptedServer upstream([&](Socket &connection, int) {
        for (int i = 0; i < Pieces; ++i) {
            if (!sendAll(connection.fd(), piece))
                return;
            QThread::msleep(100);
        }
    });
    QProcess process;
    const quint16 port = startProxy(process, {"--headless", "--listen", "127.0.0.1:0", "--target",
                                              QStringLiteral("127.0.0.1:%1").arg(upstream.port()), "--jsonl", "-",
                                              "--jsonl-samples", "250ms"});
    QVERIFY(port != 0);
    QByteArray received;
    {
        Socket client = connectTo("127.0.0.1", port);
        received = readUntilEof(client.fd());
    }
    QCOMPARE(received.size(), Pieces * piece.size());
    QByteArray out;
    QVERIFY(stopAfterFirstClose(process, SIGTERM, &out));
    QList<qint64> rates;
    double lastT = -1;
    qint64 lastBytes = -1;
    QJsonObject closed;
    for (const QJsonObject &event : jsonLines(out)) {
        const QString type = event.value("event").toString();
        if (type == u"connection_closed")
            closed = event;
        if (type != u"connection_sample")
            continue;
        QVERIFY(closed.isEmpty()); // samples only while it lives
        QCOMPARE(event.value("id").toInt(), 1);
        QVERIFY(event.value("t").toDouble() >= lastT);
        QVERIFY(event.value("bytes_down").toInteger() >= lastBytes);
        lastT = event.value("t").toDouble();
        lastBytes = event.value("bytes_down").toInteger();
        rates.append(event.value("down_bytes_per_s").toInteger());
    }
    QVERIFY2(rates.size() >= 4, qPrintable(QString::number(rates.size())));
    std::sort(rates.begin(), rates.end());
    const qint64 median = rates.at(rates.size() / 2);
    QVERIFY2(median > 500'000 && median < 2'000'000, qPrintable(QString::number(median)));

    // The closed event: the marks of its life and where the time went.
    QStringList marks;
    for (const QJsonValue &mark : closed.value("timeline").toArray())
        marks.append(mark.toObject().value("lane").toString() + QLatin1Char(':') + mark.toObject().value("mark").toString());
    QCOMPARE(marks.first(), QStringLiteral("client:accepted"));
    QCOMPARE(marks.last(), QStringLiteral("connection:closed"));
    for (const char *expected : {"upstream:connecting", "upstream:connected", "upstream:first_byte", "upstream:fin",
                                 "client:fin_sent"})
        QVERIFY2(marks.contains(QLatin1String(expected)), expected);
    const QJsonObject timing = closed.value("timing").toObject();
    // First to last byte down: the 14 pauses between the 15 pieces.
    const double transfer = timing.value("transfer_down_ms").toDouble();
    QVERIFY2(transfer > 1'300 && transfer < 2'500, qPrintable(QString::number(transfer)));
    QVERIFY(timing.contains("queued_down_ms"));
}
void tst_HeadlessFiles::rawPrefixBoundsWhatIsKept()
{
    // A binary protocol, three 60-byte messages each echoed, through a
    // proxy that keeps 100 bytes each way: all 180 pass, the stream says
    // the first 100 of each way and the reads that brought them.
    ScriptedServer upstream([](Socket &connection, int) {
        for (int i = 0; i < 3; ++i) {
            const QByteArray message = readExactly(connection.fd(), 60);
            if (message.size() != 60 || !sendAll(connection.fd(), message))
                return;
        }
        readUntilEof(connection.fd());
    });
    QProcess process;
    const quint16 port = startProxy(process, {"--headless", "--listen", "127.0.0.1:0", "--target",
                                              QStringLiteral("127.0.0.1:%1").arg(upstream.port()), "--jsonl", "-",
                                              "--raw-prefix", "100"});
    QVERIFY(port != 0);
    QByteArray sent;
    QByteArray echoed;
    {
        Socket client = connectTo("127.0.0.1", port);
        for (char fill : {'a', 'b', 'c'}) {
            QByteArray message(60, fill);
            message[0] = '\x01';
            sent += message;
            QVERIFY(sendAll(client.fd(), message));
            echoed += readExactly(client.fd(), 60);
        }
        client.shutdownWrite();
        echoed += readUntilEof(client.fd());
    }
    QCOMPARE(echoed, sent);
    QByteArray out;
    QVERIFY(stopAfterFirstClose(process, SIGTERM, &out));
    QJsonObject closed;
    for (const QJsonObject &event : jsonLines(out)) {
        if (event.value("event").toString() == u"connection_closed")
            closed = event;
    }
    QVERIFY(!closed.isEmpty());
    QCOMPARE(closed.value("bytes_up").toInteger(), 180);
    QCOMPARE(closed.value("bytes_down").toInteger(), 180);
    QVERIFY(closed.value("raw").toBool());
    // 60 + 40 bytes of the first two messages.
    const QString kept = QChar(1) + QString(59, u'a') + QChar(1) + QString(39, u'b');
    QCOMPARE(closed.value("client_first_bytes").toString(), kept);
    QCOMPARE(closed.value("upstream_first_bytes").toString(), kept);
    QStringList reads;
    for (const QJsonValue &read : closed.value("reads").toArray())
        reads.append(QStringLiteral("%1 %2").arg(read.toArray().at(0).toString()).arg(read.toArray().at(2).toInt()));
    QCOMPARE(reads, (QStringList{"client 60", "upstream 60", "client 40", "upstream 40"}));
    QVERIFY(!closed.contains("reads_cut"));

    // A size that is not one is refused, naming the option.
    QProcess bad;
    bad.start(QStringLiteral(PROXYMON_BINARY), {"--headless", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:9",
                                                "--raw-prefix", "lots"});
    QVERIFY(bad.waitForFinished(10'000));
    QVERIFY(bad.exitCode() != 0);
    QVERIFY2(bad.readAllStandardError().contains("--raw-prefix"), "the error names the option");
}

QTEST_GUILESS_MAIN(tst_HeadlessFiles)
#include "tst_headlessfiles.moc"
