// What a script does to a running headless proxymon: faults from the
// command line, commands on its standard input, a rules file reloaded.

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

class tst_HeadlessRules : public QObject
{
    Q_OBJECT

private slots:
    void httpFaultFromTheCommandLine();
    void commandsActOnOneConnection();
    void rulesFileReloadsOnSighup();
};

void tst_HeadlessRules::httpFaultFromTheCommandLine()
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
void tst_HeadlessRules::commandsActOnOneConnection()
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
void tst_HeadlessRules::rulesFileReloadsOnSighup()
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

QTEST_GUILESS_MAIN(tst_HeadlessRules)
#include "tst_headlessrules.moc"
