// The proxymon executable in headless mode, driven as a user or a script
// would: arguments, stderr, the JSONL stream, signals and exit codes.

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

class tst_Headless : public QObject
{
    Q_OBJECT

private slots:
    void helpListsEveryOption();
    void badArgumentsExitNonZero();
    void jsonlToFileAndCleanStop();
    void jsonlToStandardOutput();
    void listenFailureNamesTheCause();
    void nonLoopbackWarns();
    void outOfDescriptorsBacksOff();
    void survivesClientGoneMidDownload();
    void noCaptureReportsNoExchanges();
    void windowWithoutDisplaySaysWhatToDo();
    void filterNarrowsTheStream();
    void httpProxyModeReportsItsAnswers();

};

void tst_Headless::helpListsEveryOption()
{
    QProcess process;
    process.start(QStringLiteral(PROXYMON_BINARY), {QStringLiteral("--help")});
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(process.exitCode(), 0);
    const QString help = QString::fromUtf8(process.readAllStandardOutput());
    for (const char *option : {"--headless", "--listen", "--target", "--jsonl", "--allow-remote", "--buffer",
                               "--connect-timeout", "--idle-timeout", "--half-close-timeout", "--stop-grace",
                               "--max-connections", "--workers", "--backlog", "--no-capture", "--body-prefix",
                               "--upstream-ca", "--insecure", "--keylog", "--ca", "--ca-export", "--ca-replace",
                               "--condition", "--preset", "--fault", "--rules", "--commands"}) {
        QVERIFY2(help.contains(QLatin1String(option)), option);
    }
}

void tst_Headless::badArgumentsExitNonZero()
{
    QProcess process;
    process.start(QStringLiteral(PROXYMON_BINARY),
                  {QStringLiteral("--headless"), QStringLiteral("--target"), QStringLiteral("no-port-here")});
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(process.exitCode(), 2);
    const QString error = QString::fromUtf8(process.readAllStandardError());
    QVERIFY2(error.contains(QStringLiteral("--target")), qPrintable(error));

    // Samples go into a JSONL stream, which must be asked for.
    process.start(QStringLiteral(PROXYMON_BINARY), {"--headless", "--target", "127.0.0.1:9", "--jsonl-samples", "1s"});
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(process.exitCode(), 2);
    QVERIFY(process.readAllStandardError().contains("--jsonl-samples goes with --jsonl"));
    process.start(QStringLiteral(PROXYMON_BINARY), {"--headless", "--target", "127.0.0.1:9", "--jsonl", "-",
                                                     "--jsonl-samples", "often"});
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(process.exitCode(), 2);
    QVERIFY(process.readAllStandardError().contains("--jsonl-samples: 'often' is not a duration"));
}

void tst_Headless::windowWithoutDisplaySaysWhatToDo()
{
    QProcess process;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    for (const char *name : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"})
        environment.remove(QLatin1String(name));
    process.setProcessEnvironment(environment);
    process.start(QStringLiteral(PROXYMON_BINARY), {QStringLiteral("--target"), QStringLiteral("127.0.0.1:9")});
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(process.exitCode(), 2);
    const QString error = QString::fromUtf8(process.readAllStandardError());
    QVERIFY2(error.contains(QStringLiteral("no display")) && error.contains(QStringLiteral("--headless")),
             qPrintable(error));
}

void tst_Headless::jsonlToFileAndCleanStop()
{
    EchoServer echo;
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("events.jsonl"));
    QProcess process;
    QByteArray banner;
    const quint16 port = startProxy(process, {"--headless", "--listen", "127.0.0.1:0", "--target",
                                              QStringLiteral("127.0.0.1:%1").arg(echo.port()), "--jsonl", path},
                                    &banner);
    QVERIFY2(port != 0, banner.constData());
    QVERIFY(banner.contains(QStringLiteral("forwarding to 127.0.0.1:%1").arg(echo.port()).toUtf8()));

    // The lab's client flow, twice.
    for (int i = 0; i < 2; ++i) {
        Socket client = connectTo("127.0.0.1", port);
        QVERIFY(client.isValid());
        QVERIFY(sendAll(client.fd(), "GET / HTTP/1.1\r\n\r\n"));
        client.shutdownWrite();
        QCOMPARE(readUntilEof(client.fd()), QByteArray("GET / HTTP/1.1\r\n\r\n"));
    }
    // The closed events reach the file within a batch or two.
    QVERIFY(QTest::qWaitFor([&] {
        QFile file(path);
        return file.open(QIODevice::ReadOnly) && file.readAll().count("connection_closed") == 2;
    }, 5'000));

    ::kill(pid_t(process.processId()), SIGTERM);
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(process.exitStatus(), QProcess::NormalExit);
    QCOMPARE(process.exitCode(), 0);

    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QList<QJsonObject> events = jsonLines(file.readAll());
    // listening; per connection: opened, the HTTP exchange its request
    // made (the echo is no HTTP response), closed, in that order (two
    // connections within one batch may interleave); then stopped.
    QCOMPARE(events.size(), 8);
    QCOMPARE(events.first().value("event").toString(), QStringLiteral("listening"));
    QCOMPARE(events.first().value("address").toString(), QStringLiteral("127.0.0.1:%1").arg(port));
    QCOMPARE(events.last().value("event").toString(), QStringLiteral("stopped"));
    for (int id = 1; id <= 2; ++id) {
        int opened = -1, exchange = -1, closed = -1;
        for (int i = 0; i < events.size(); ++i) {
            const QString type = events[i].value("event").toString();
            if (type == u"connection_opened" && events[i].value("id").toInt() == id)
                opened = i;
            else if (type == u"exchange" && events[i].value("connection").toInt() == id)
                exchange = i;
            else if (type == u"connection_closed" && events[i].value("id").toInt() == id)
                closed = i;
        }
        QVERIFY(opened > 0 && opened < exchange && exchange < closed);
        QVERIFY(events[opened].value("client").toString().startsWith(QStringLiteral("127.0.0.1:")));
        QCOMPARE(events[opened].value("upstream").toString(), QStringLiteral("127.0.0.1:%1").arg(echo.port()));
        QVERIFY(QDateTime::fromString(events[opened].value("time").toString(), Qt::ISODateWithMs).isValid());
        QCOMPARE(events[exchange].value("request").toObject().value("method").toString(), QStringLiteral("GET"));
        QVERIFY(events[exchange].value("response").isNull());
        QCOMPARE(events[exchange].value("complete").toBool(), false);
        QCOMPARE(events[closed].value("bytes_up").toInt(), 18);
        QCOMPARE(events[closed].value("bytes_down").toInt(), 18);
        QCOMPARE(events[closed].value("close").toString(), QStringLiteral("client_fin"));
        QCOMPARE(events[closed].value("requests").toInt(), 1);
        QVERIFY(events[closed].contains("duration_ms"));
    }
}

void tst_Headless::jsonlToStandardOutput()
{
    QProcess process;
    const quint16 port = startProxy(process, {"--headless", "--listen", "127.0.0.1:0", "--target",
                                              QStringLiteral("127.0.0.1:%1").arg(unusedPort()), "--jsonl", "-"});
    QVERIFY(port != 0);
    {
        Socket client = connectTo("127.0.0.1", port);
        QCOMPARE(readUntilEof(client.fd()), QByteArray());
    }
    QByteArray out;
    QVERIFY(stopAfterFirstClose(process, SIGINT, &out));
    QCOMPARE(process.exitCode(), 0);
    const QList<QJsonObject> events = jsonLines(out);
    QCOMPARE(events.size(), 4);
    QCOMPARE(events[2].value("close").toString(), QStringLiteral("error"));
    QVERIFY(events[2].value("error").toString().contains(QStringLiteral("refused")));
    QCOMPARE(events[3].value("event").toString(), QStringLiteral("stopped"));
}

void tst_Headless::listenFailureNamesTheCause()
{
    quint16 port = 0;
    Socket occupant = listenOn("127.0.0.1", 1, &port);
    QProcess process;
    process.start(QStringLiteral(PROXYMON_BINARY),
                  {"--headless", "--listen", QStringLiteral("127.0.0.1:%1").arg(port), "--target", "127.0.0.1:9"});
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(process.exitCode(), 1);
    const QString error = QString::fromUtf8(process.readAllStandardError());
    QVERIFY2(error.contains(QStringLiteral("127.0.0.1:%1").arg(port)), qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("Address already in use")), qPrintable(error));
}

void tst_Headless::nonLoopbackWarns()
{
    // Only binds the wildcard address; all traffic stays on loopback.
    QProcess process;
    QByteArray banner;
    const quint16 port = startProxy(process, {"--headless", "--listen", "0.0.0.0:0", "--allow-remote", "--target",
                                              "127.0.0.1:9"},
                                    &banner);
    QVERIFY2(port != 0, banner.constData());
    QVERIFY2(banner.contains("WARNING"), banner.constData());
    process.terminate();
    QVERIFY(process.waitForFinished(10'000));
}

void tst_Headless::outOfDescriptorsBacksOff()
{
    if (QStandardPaths::findExecutable(QStringLiteral("prlimit")).isEmpty())
        QSKIP("prlimit (util-linux) is not installed");
    EchoServer echo;
    QProcess process;
    process.setProgram(QStringLiteral("prlimit"));
    // 40 descriptors: Qt and the workers take some, leaving room for a few
    // connections; the explicit limit keeps the connection gate out of the way.
    process.setArguments({"--nofile=40:40", PROXYMON_BINARY, "--headless", "--listen", "127.0.0.1:0", "--target",
                          QStringLiteral("127.0.0.1:%1").arg(echo.port()), "--max-connections", "1000"});
    process.start();
    QVERIFY(process.waitForStarted(10'000));
    static const QRegularExpression listening(QStringLiteral("listening on 127.0.0.1:(\\d+)"));
    QByteArray seen;
    QVERIFY(QTest::qWaitFor([&] {
        process.waitForReadyRead(50);
        seen += process.readAllStandardError();
        return listening.match(QString::fromUtf8(seen)).hasMatch();
    }, 10'000));
    const quint16 port = quint16(listening.match(QString::fromUtf8(seen)).captured(1).toUInt());

    std::vector<Socket> clients;
    for (int i = 0; i < 40; ++i)
        clients.push_back(connectTo("127.0.0.1", port));
    QVERIFY(waitForOutput(process, QProcess::StandardError, "out of descriptors", &seen));
    // Out of descriptors with connections waiting: it must wait, not spin.
    const double before = cpuSeconds(process.processId());
    QTest::qWait(1'000);
    const double used = cpuSeconds(process.processId()) - before;
    QVERIFY2(used < 0.3, qPrintable(QStringLiteral("%1 s of CPU in one second").arg(used)));

    // Once descriptors free up, waiting connections are served. How soon
    // depends on the back-off and on how fast the closed clients drain
    // (slow under the sanitizers): a few tries, bounded, and one must echo.
    clients.clear();
    QTest::qWait(1'000);
    QByteArray echoed;
    for (int attempt = 0; attempt < 10 && echoed != "still alive"; ++attempt) {
        if (attempt > 0)
            QTest::qWait(1'000);
        echoed = offThread([&] {
            Socket late = connectTo("127.0.0.1", port);
            if (!late.isValid() || !sendAll(late.fd(), "still alive"))
                return QByteArray();
            late.shutdownWrite();
            return readUntilEof(late.fd());
        });
    }
    QCOMPARE(echoed, QByteArray("still alive"));
    process.terminate();
    QVERIFY(process.waitForFinished(10'000));
}

void tst_Headless::survivesClientGoneMidDownload()
{
    // Bulk transfers are spliced, and splice() to a vanished peer raises
    // SIGPIPE: the process must not die of it.
    const QByteArray payload = randomBytes(32 * 1024 * 1024, 7);
    ScriptedServer upstream([&](Socket &connection, int) { sendAll(connection.fd(), payload); });
    QProcess process;
    const quint16 port = startProxy(process, {"--headless", "--listen", "127.0.0.1:0", "--target",
                                              QStringLiteral("127.0.0.1:%1").arg(upstream.port())});
    QVERIFY(port != 0);
    for (int i = 0; i < 3; ++i) {
        Socket client = connectTo("127.0.0.1", port);
        // Reading late lets the proxy's socket fill up, so that its reads
        // come back full and it switches to splicing.
        QTest::qWait(300);
        QCOMPARE(readExactly(client.fd(), 2 * 1024 * 1024).size(), 2 * 1024 * 1024);
        // Stop receiving: the next bytes the proxy sends draw a reset, and the
        // sends after that fail with EPIPE.
        ::shutdown(client.fd(), SHUT_RDWR);
        QTest::qWait(100);
        client.close();
    }
    QTest::qWait(500);
    QCOMPARE(process.state(), QProcess::Running);
    ::kill(pid_t(process.processId()), SIGTERM);
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(process.exitCode(), 0);
}

void tst_Headless::noCaptureReportsNoExchanges()
{
    EchoServer echo;
    QProcess process;
    const quint16 port = startProxy(process, {"--headless", "--listen", "127.0.0.1:0", "--target",
                                              QStringLiteral("127.0.0.1:%1").arg(echo.port()), "--no-capture",
                                              "--jsonl", "-"});
    QVERIFY(port != 0);
    {
        Socket client = connectTo("127.0.0.1", port);
        QVERIFY(sendAll(client.fd(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        client.shutdownWrite();
        QCOMPARE(readUntilEof(client.fd()).size(), 27);
    }
    QByteArray out;
    QVERIFY(stopAfterFirstClose(process, SIGTERM, &out));
    QVERIFY(!out.contains("\"exchange\""));
    QVERIFY(out.contains("\"requests\":0"));
}

void tst_Headless::filterNarrowsTheStream()
{
    // The echo server answers a request with itself: not a response, so
    // "/keep" and "/drop" differ only in the target the filter looks at.
    EchoServer echo;
    QProcess process;
    const quint16 port = startProxy(process, {"--headless", "--listen", "127.0.0.1:0", "--target",
                                              QStringLiteral("127.0.0.1:%1").arg(echo.port()), "--filter",
                                              "method:get keep", "--jsonl", "-"});
    QVERIFY(port != 0);
    for (const char *request : {"GET /drop HTTP/1.1\r\n\r\n", "GET /keep HTTP/1.1\r\n\r\n"}) {
        Socket client = connectTo("127.0.0.1", port);
        QVERIFY(sendAll(client.fd(), request));
        client.shutdownWrite();
        readUntilEof(client.fd());
    }
    QByteArray out;
    QVERIFY(stopAfterFirstClose(process, SIGTERM, &out));
    const QList<QJsonObject> events = jsonLines(out);
    QStringList kinds;
    for (const QJsonObject &event : events)
        kinds.append(event.value("event").toString());
    QCOMPARE(kinds, QStringList({"listening", "connection_opened", "exchange", "connection_closed", "stopped"}));
    QCOMPARE(events[1].value("id").toInt(), 2);
    QCOMPARE(events[2].value("request").toObject().value("target").toString(), QStringLiteral("/keep"));
}

void tst_Headless::httpProxyModeReportsItsAnswers()
{
    QProcess process;
    QByteArray stderrSeen;
    const quint16 port = startProxy(process, {"--headless", "--mode", "http-proxy", "--listen", "127.0.0.1:0",
                                              "--jsonl", "-"}, &stderrSeen);
    QVERIFY2(port != 0, stderrSeen.constData());
    QVERIFY(stderrSeen.contains("as an HTTP proxy"));
    const QByteArray refused = "127.0.0.1:" + QByteArray::number(unusedPort());
    {
        Socket client = connectTo("127.0.0.1", port);
        QVERIFY(sendAll(client.fd(), "GET http://" + refused + "/x HTTP/1.1\r\n\r\n"));
        const QByteArray reply = readUntilEof(client.fd());
        QVERIFY2(reply.startsWith("HTTP/1.1 502 Bad Gateway\r\n"), reply.constData());
    }
    QByteArray out;
    QVERIFY(stopAfterFirstClose(process, SIGINT, &out));
    const QList<QJsonObject> events = jsonLines(out);
    QCOMPARE(events.first().value("mode").toString(), QStringLiteral("http-proxy"));
    QVERIFY(events.first().value("target").isNull());
    bool sawExchange = false;
    bool sawClosed = false;
    for (const QJsonObject &event : events) {
        if (event.value("event").toString() == QStringLiteral("exchange")) {
            sawExchange = true;
            QCOMPARE(event.value("response").toObject().value("status").toInt(), 502);
        } else if (event.value("event").toString() == QStringLiteral("connection_closed")) {
            sawClosed = true;
            QCOMPARE(event.value("upstream").toString(), QString::fromLatin1(refused));
            QVERIFY(event.value("error").toString().contains(QStringLiteral("refused")));
        }
    }
    QVERIFY(sawExchange);
    QVERIFY(sawClosed);
}

QTEST_GUILESS_MAIN(tst_Headless)
#include "tst_headless.moc"
