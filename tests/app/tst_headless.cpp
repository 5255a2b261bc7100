// The proxymon executable in headless mode, driven as a user or a script
// would: arguments, stderr, the JSONL stream, signals and exit codes.

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
    void httpFaultFromTheCommandLine();
    void commandsActOnOneConnection();
    void caShowsWhereAndHowToTrust();
    void bodiesAndHarWhenStopped();
    void harToAPlaceThatCannotBeWritten();
    void samplesAndTimelineOfALiveTransfer();
    void rawPrefixBoundsWhatIsKept();
    void rulesFileReloadsOnSighup();

private:
    // Starts proxymon and waits for its "listening on" line; returns the port.
    static quint16 startProxy(QProcess &process, const QStringList &arguments, QByteArray *stderrSeen = nullptr);
    static QList<QJsonObject> jsonLines(const QByteArray &bytes);
    // Collects a channel's output into *seen until it contains needle.
    static bool waitForOutput(QProcess &process, QProcess::ProcessChannel channel, const QByteArray &needle,
                              QByteArray *seen, int timeoutMs = 5'000);
    static double cpuSeconds(qint64 pid);
    // Waits for the first connection_closed event on standard output, stops
    // proxymon with signalNumber and collects everything it wrote there.
    static bool stopAfterFirstClose(QProcess &process, int signalNumber, QByteArray *out);
};

quint16 tst_Headless::startProxy(QProcess &process, const QStringList &arguments, QByteArray *stderrSeen)
{
    process.setProgram(QStringLiteral(PROXYMON_BINARY));
    // No display of any kind: headless must not need one.
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    for (const char *name : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"})
        environment.remove(QLatin1String(name));
    process.setProcessEnvironment(environment);
    process.setArguments(arguments);
    process.start();
    if (!process.waitForStarted(10'000))
        return 0;
    static const QRegularExpression listening(QStringLiteral("listening on (\\S+):(\\d+)(, forwarding to| as an HTTP proxy)"));
    QByteArray seen;
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < 10'000) {
        process.waitForReadyRead(100);
        seen += process.readAllStandardError();
        const QRegularExpressionMatch match = listening.match(QString::fromUtf8(seen));
        if (match.hasMatch()) {
            if (stderrSeen)
                *stderrSeen = seen;
            return quint16(match.captured(2).toUInt());
        }
        if (process.state() == QProcess::NotRunning)
            break;
    }
    if (stderrSeen)
        *stderrSeen = seen;
    return 0;
}

bool tst_Headless::waitForOutput(QProcess &process, QProcess::ProcessChannel channel, const QByteArray &needle,
                                 QByteArray *seen, int timeoutMs)
{
    return QTest::qWaitFor([&] {
        process.waitForReadyRead(50);
        *seen += channel == QProcess::StandardOutput ? process.readAllStandardOutput()
                                                     : process.readAllStandardError();
        return seen->contains(needle);
    }, timeoutMs);
}

QList<QJsonObject> tst_Headless::jsonLines(const QByteArray &bytes)
{
    QList<QJsonObject> result;
    for (const QByteArray &line : bytes.split('\n')) {
        if (!line.isEmpty())
            result.append(QJsonDocument::fromJson(line).object());
    }
    return result;
}

bool tst_Headless::stopAfterFirstClose(QProcess &process, int signalNumber, QByteArray *out)
{
    if (!waitForOutput(process, QProcess::StandardOutput, "connection_closed", out))
        return false;
    ::kill(pid_t(process.processId()), signalNumber);
    if (!process.waitForFinished(10'000))
        return false;
    *out += process.readAllStandardOutput();
    return true;
}

double tst_Headless::cpuSeconds(qint64 pid)
{
    QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!stat.open(QIODevice::ReadOnly))
        return -1;
    const QByteArray text = stat.readAll();
    // Fields after the command name, which is in parentheses.
    const QList<QByteArray> fields = text.mid(text.lastIndexOf(')') + 2).split(' ');
    const double ticks = fields.value(11).toDouble() + fields.value(12).toDouble();
    return ticks / double(sysconf(_SC_CLK_TCK));
}

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

void tst_Headless::httpFaultFromTheCommandLine()
{
    // The answer comes from the rule, before any upstream is reached; the
    // JSONL says which rule fired, on which request.
    QProcess process;
    QByteArray stderrSeen;
    const quint16 port = startProxy(process, {"--headless", "--mode", "http-proxy", "--listen", "127.0.0.1:0", "--jsonl",
                                              "-", "--fault", "status:code=503,path=^/api/"}, &stderrSeen);
    QVERIFY2(port != 0, stderrSeen.constData());
    const QByteArray origin = "http://127.0.0.1:" + QByteArray::number(unusedPort());
    {
        Socket client = connectTo("127.0.0.1", port);
        QVERIFY(sendAll(client.fd(), "GET " + origin + "/api/x HTTP/1.1\r\nHost: a\r\n\r\n"));
        const QByteArray reply = readUntilEof(client.fd());
        QVERIFY2(reply.startsWith("HTTP/1.1 503 Service Unavailable\r\n"), reply.constData());
    }
    QByteArray out;
    QVERIFY(stopAfterFirstClose(process, SIGINT, &out));
    bool sawFault = false;
    bool sawExchange = false;
    for (const QJsonObject &event : jsonLines(out)) {
        if (event.value("event").toString() == QStringLiteral("fault")) {
            sawFault = true;
            QCOMPARE(event.value("what").toString(),
                     QStringLiteral("answer 503 to GET %1/api/x (by fault rule 1)").arg(QString::fromLatin1(origin)));
        } else if (event.value("event").toString() == QStringLiteral("exchange")) {
            sawExchange = true;
            QCOMPARE(event.value("response").toObject().value("status").toInt(), 503);
        }
    }
    QVERIFY(sawFault);
    QVERIFY(sawExchange);

    // A bad rule is named, with what is wrong in it.
    process.start(QStringLiteral(PROXYMON_BINARY), {"--headless", "--target", "127.0.0.1:9", "--fault",
                                                     "status:code=5000"});
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(process.exitCode(), 2);
    const QString error = QString::fromUtf8(process.readAllStandardError());
    QVERIFY2(error.contains(QStringLiteral("--fault 'status:code=5000': code '5000' is not a final HTTP status")),
             qPrintable(error));
}

void tst_Headless::commandsActOnOneConnection()
{
    // What the row menu does, typed: the live connections listed, one
    // reset by its id, and mistakes answered with what is wrong.
    EchoServer echo;
    QProcess process;
    QByteArray err;
    const quint16 port = startProxy(process, {"--headless", "--listen", "127.0.0.1:0", "--target",
                                              "127.0.0.1:" + QString::number(echo.port()), "--jsonl", "-", "--commands"},
                                    &err);
    QVERIFY2(port != 0, err.constData());
    Socket first = connectTo("127.0.0.1", port);
    Socket second = connectTo("127.0.0.1", port);
    for (Socket *socket : {&first, &second}) {
        QVERIFY(sendAll(socket->fd(), "ping"));
        QCOMPARE(readExactly(socket->fd(), 4), QByteArray("ping"));
    }
    QVERIFY(QTest::qWaitFor([&] {
        process.write("list\n");
        return waitForOutput(process, QProcess::StandardError, "2  127.0.0.1:", &err, 300);
    }, 5'000));
    QVERIFY2(err.contains(" -> 127.0.0.1:" + QByteArray::number(echo.port()) + "  open  up 4B, down 4B"), err.constData());
    process.write("frobnicate\nact 99 close\nact 1 reset:after=2s\nact 1 reset:side=client\n");
    QVERIFY(waitForOutput(process, QProcess::StandardError, "connection 1: reset the client (by a command)", &err));
    QVERIFY(err.contains("'frobnicate' is not a command (help lists them)"));
    QVERIFY(err.contains("no live connection 99"));
    QVERIFY(err.contains("act reset:after=2s: a command acts now"));
    char byte;
    QCOMPARE(::recv(first.fd(), &byte, 1, 0), ssize_t(-1));
    QCOMPARE(errno, ECONNRESET);
    // The other connection goes on.
    QVERIFY(sendAll(second.fd(), "pong"));
    QCOMPARE(readExactly(second.fd(), 4), QByteArray("pong"));
    QByteArray out;
    QVERIFY(stopAfterFirstClose(process, SIGINT, &out));
    QVERIFY2(out.contains("\"what\":\"reset the client (by a command)\""), out.constData());
}

void tst_Headless::caShowsWhereAndHowToTrust()
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

void tst_Headless::bodiesAndHarWhenStopped()
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

void tst_Headless::harToAPlaceThatCannotBeWritten()
{
    QProcess process;
    process.start(QStringLiteral(PROXYMON_BINARY), {"--headless", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:9",
                                                    "--har", "/nonexistent-directory/capture.har"});
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(process.exitCode(), 1);
    const QByteArray said = process.readAllStandardError();
    QVERIFY2(said.contains("cannot write HAR to /nonexistent-directory/capture.har: no such directory"), said.constData());
}

void tst_Headless::samplesAndTimelineOfALiveTransfer()
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

void tst_Headless::rawPrefixBoundsWhatIsKept()
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

void tst_Headless::rulesFileReloadsOnSighup()
{
    EchoServer echo;
    QTemporaryDir directory;
    QVERIFY(directory.isValid());
    const QString path = directory.filePath(QStringLiteral("rules.json"));
    auto writeRules = [&](const QByteArray &json) {
        QFile file(path);
        return file.open(QIODevice::WriteOnly | QIODevice::Truncate) && file.write(json) == json.size();
    };
    QVERIFY(writeRules(R"({"faults": ["reset:on=first-data"]})"));
    QProcess process;
    const quint16 port = startProxy(process, {"--headless", "--listen", "127.0.0.1:0", "--target",
                                              QStringLiteral("127.0.0.1:%1").arg(echo.port()), "--jsonl", "-",
                                              "--rules", path});
    QVERIFY(port != 0);
    // The file's fault: the first data resets the connection.
    int error = 0;
    {
        Socket client = connectTo("127.0.0.1", port);
        sendAll(client.fd(), "x");
        readUntilEof(client.fd(), &error);
    }
    QCOMPARE(error, ECONNRESET);
    QByteArray out;
    QVERIFY(waitForOutput(process, QProcess::StandardOutput, "connection_closed", &out));

    // Reloaded: no fault now, a latency instead.
    QVERIFY(writeRules(R"({"conditions": ["down:latency=200ms"]})"));
    QByteArray err;
    ::kill(pid_t(process.processId()), SIGHUP);
    QVERIFY(waitForOutput(process, QProcess::StandardError, "rules reloaded", &err));
    {
        Socket client = connectTo("127.0.0.1", port);
        QElapsedTimer clock;
        clock.start();
        sendAll(client.fd(), "ping");
        QCOMPARE(readExactly(client.fd(), 4), QByteArrayLiteral("ping"));
        QVERIFY2(clock.elapsed() >= 195, qPrintable(QString::number(clock.elapsed())));
    }

    // A bad edit is named, and what runs stays.
    QVERIFY(writeRules(R"({"conditions": ["down:latency=soon"]})"));
    ::kill(pid_t(process.processId()), SIGHUP);
    QVERIFY(waitForOutput(process, QProcess::StandardError, "kept", &err));
    QVERIFY2(err.contains("\"conditions\"[0] 'down:latency=soon': latency 'soon' is not a duration"), err.constData());
    QVERIFY(process.state() == QProcess::Running);

    ::kill(pid_t(process.processId()), SIGINT);
    QVERIFY(process.waitForFinished(10'000));
    out += process.readAllStandardOutput();
    const QList<QJsonObject> events = jsonLines(out);
    const auto fault = std::find_if(events.cbegin(), events.cend(),
                                    [](const QJsonObject &e) { return e.value("event").toString() == u"fault"; });
    QVERIFY(fault != events.cend());
    QCOMPARE(fault->value("connection").toInt(), 1);
    QVERIFY2(fault->value("what").toString().contains(QStringLiteral("reset both sides (by fault rule 1)")),
             qPrintable(fault->value("what").toString()));
    const auto notices = std::count_if(events.cbegin(), events.cend(), [](const QJsonObject &e) {
        return e.value("event").toString() == u"notice" && e.value("message").toString().contains(u"rules");
    });
    QCOMPARE(notices, 2);
}

QTEST_GUILESS_MAIN(tst_Headless)
#include "tst_headless.moc"
