// Copy as curl, run for real: a request goes through proxymon to a server
// that records raw bytes, the captured exchange becomes a curl command, and
// the command run by sh (dash) and by bash must make the server receive
// the same bytes.

#include "curlcommand.h"
#include "httpmessagestream.h"
#include "loopback.h"
#include "runningproxy.h"

#include <QDir>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <sys/socket.h>

#include <mutex>

using namespace Loopback;

namespace {

// Keeps the raw bytes of each request it gets (one per connection), then
// answers and closes.
class RecordingServer
{
public:
    RecordingServer()
        : m_server([this](Socket &connection, int) { serve(connection); })
    {
    }

    quint16 port() const { return m_server.port(); }
    QByteArray host() const { return "127.0.0.1:" + QByteArray::number(port()); }
    QList<QByteArray> requests() const
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_requests;
    }

private:
    void serve(Socket &connection)
    {
        HttpMessageStream stream(HttpHead::Kind::Request);
        QByteArray bytes;
        bool ended = false;
        while (!ended) {
            char chunk[16384];
            const ssize_t n = ::recv(connection.fd(), chunk, sizeof chunk, 0);
            if (n <= 0)
                break;
            bytes.append(chunk, n);
            QList<HttpMessageStream::Event> events;
            stream.feed(QByteArrayView(chunk, n), &events);
            for (const HttpMessageStream::Event &event : events)
                ended = ended || event.type == HttpMessageStream::Event::Type::End;
        }
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_requests.append(bytes);
        }
        sendAll(connection.fd(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    }

    mutable std::mutex m_mutex;
    QList<QByteArray> m_requests;
    ScriptedServer m_server;
};

// The message with a chunked body turned into its plain bytes, and the
// head kept: curl chunks again with its own sizes.
QByteArray unchunked(const QByteArray &message)
{
    const qsizetype headEnd = message.indexOf("\r\n\r\n") + 4;
    QByteArray out = message.left(headEnd);
    qsizetype at = headEnd;
    for (;;) {
        const qsizetype lineEnd = message.indexOf("\r\n", at);
        if (lineEnd < 0)
            return out + "<bad chunking>";
        const qsizetype size = message.mid(at, lineEnd - at).toLongLong(nullptr, 16);
        if (size == 0)
            return out;
        out += message.mid(lineEnd + 2, size);
        at = lineEnd + 2 + size + 2;
    }
}

// A literal's bytes, NULs included.
template<qsizetype N>
QByteArray bytes(const char (&text)[N])
{
    return QByteArray(text, N - 1);
}

struct ShellRun
{
    int exitCode = -1;
    QByteArray errors;
};

// The command goes in on standard input, as a paste does: one argument
// could not hold a large body's printf commands (128 KiB per argument).
ShellRun runShell(const char *shell, const QByteArray &command, const QString &directory,
                  QByteArray *output = nullptr)
{
    QProcess process;
    process.setWorkingDirectory(directory);
    process.start(QString::fromLatin1(shell), {QStringLiteral("-s")});
    process.write(command);
    process.closeWriteChannel();
    ShellRun run;
    if (!process.waitForFinished(20'000)) {
        process.kill();
        process.waitForFinished(2'000);
        run.errors = "timed out";
        return run;
    }
    run.exitCode = process.exitCode();
    run.errors = process.readAllStandardError();
    if (output)
        *output = process.readAllStandardOutput();
    return run;
}

} // namespace

class CurlCommandTest : public QObject
{
    Q_OBJECT
private slots:
    void commandSendsTheRecordedRequest_data();
    void commandSendsTheRecordedRequest();
    void absoluteFormLosesOnlyTheProxyParts();
    void convenientVariantRuns();
    void partBodySaysSo();
    void wordsSurviveEveryByte();

private:
    // Sends the request through proxymon to server and returns what it
    // captured, with the server's copy of the original.
    HttpExchange capture(RecordingServer &server, const QByteArray &request, ProxyConfig config = {});
};

HttpExchange CurlCommandTest::capture(RecordingServer &server, const QByteArray &request, ProxyConfig config)
{
    config.listenAddress = QHostAddress(QHostAddress::LocalHost);
    if (config.mode == ProxyConfig::Mode::Forward) {
        config.targetHost = QStringLiteral("127.0.0.1");
        config.targetPort = server.port();
    }
    RunningProxy proxy;
    if (!proxy.start(config))
        return {};
    proxy.ask(request);
    proxy.records.waitForExchanges(1);
    proxy.server.stop();
    return proxy.records.exchanges().value(0);
}

void CurlCommandTest::commandSendsTheRecordedRequest_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<bool>("chunked");

    QTest::newRow("get, headers in order and case, duplicates")
        << QByteArray("GET /path?q=1&r=2 HTTP/1.1\r\nHost: %HOST%\r\nuser-agent: probe/1\r\nX-Case: MiXeD\r\n"
                      "X-Dup: 1\r\nX-Dup: 2\r\nAccept: */*\r\n\r\n")
        << false;
    QTest::newRow("post, binary body")
        << bytes("POST /upload HTTP/1.1\r\nHost: %HOST%\r\nContent-Type: application/octet-stream\r\n"
                 "Content-Length: 9\r\n\r\n\x00\xff\x01'%\\\r\n\x7f")
        << false;
    QTest::newRow("post, 200 KB binary body in many printf pieces")
        << "POST /upload HTTP/1.1\r\nHost: %HOST%\r\nContent-Length: 200000\r\n\r\n" + randomBytes(200'000, 5)
        << false;
    QTest::newRow("post, text body with quotes and line feeds")
        << QByteArray("PUT /form HTTP/1.1\r\nHost: %HOST%\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n\r\n"
                      "line one\nit's \"two\" $x\n")
        << false;
    QTest::newRow("chunked")
        << bytes("POST /c HTTP/1.1\r\nHost: %HOST%\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3\r\nabc\r\n2\r\nd\x00\r\n0\r\n\r\n")
        << true;
    QTest::newRow("head") << QByteArray("HEAD /h HTTP/1.1\r\nHost: %HOST%\r\nAccept: text/html\r\n\r\n") << false;
    QTest::newRow("http/1.0") << QByteArray("GET /old HTTP/1.0\r\nHost: %HOST%\r\nConnection: close\r\n\r\n")
                              << false;
    QTest::newRow("shell metacharacters")
        << QByteArray("GET / HTTP/1.1\r\nHost: %HOST%\r\nX-Evil: '; touch pwned #\r\n"
                      "X-Evil2: $(touch pwned2) `touch pwned3` \"q\" \\ ${HOME} !!\r\n\r\n")
        << false;
    QTest::newRow("empty and tight headers, bytes not UTF-8")
        << QByteArray("GET / HTTP/1.1\r\nHost: %HOST%\r\nX-Empty:\r\nX-Tight:v\r\nX-Bytes: caf\xc3\xa9 \xfe!\r\n\r\n")
        << false;
    QTest::newRow("dot segments") << QByteArray("GET /a/./b/../c/.. HTTP/1.1\r\nHost: %HOST%\r\n\r\n") << false;
    QTest::newRow("delete with a body")
        << QByteArray("DELETE /item/7 HTTP/1.1\r\nHost: %HOST%\r\nContent-Length: 4\r\n\r\n{\"a\"") << false;
}

void CurlCommandTest::commandSendsTheRecordedRequest()
{
    QFETCH(QByteArray, request);
    QFETCH(bool, chunked);
    RecordingServer server;
    request.replace("%HOST%", server.host());
    const HttpExchange exchange = capture(server, request);
    QVERIFY2(!exchange.request.isEmpty(), "nothing captured");
    QCOMPARE(server.requests().size(), 1);
    const QByteArray original = server.requests().first();

    const QByteArray command = CurlCommand::build(exchange, CurlCommand::Style::Faithful);
    QVERIFY(!command.isEmpty());
    QVERIFY2(!command.contains("$'"), command.constData());
    for (const char *shell : {"sh", "bash"}) {
        QTemporaryDir directory;
        const ShellRun run = runShell(shell, command, directory.path());
        QVERIFY2(run.exitCode == 0, qPrintable(QString::fromUtf8(command + "\n" + run.errors)));
        QCOMPARE(QDir(directory.path()).entryList(QDir::NoDotAndDotDot | QDir::AllEntries), QStringList());
    }
    const QList<QByteArray> received = server.requests();
    QCOMPARE(received.size(), 3);
    for (int i = 1; i < 3; ++i) {
        if (chunked)
            QCOMPARE(unchunked(received[i]), unchunked(original));
        else
            QCOMPARE(received[i], original);
    }
}

void CurlCommandTest::absoluteFormLosesOnlyTheProxyParts()
{
    RecordingServer server;
    ProxyConfig config;
    config.mode = ProxyConfig::Mode::HttpProxy;
    const QByteArray request = "GET http://" + server.host() + "/p?x=1 HTTP/1.1\r\nHost: " + server.host()
        + "\r\nProxy-Connection: keep-alive\r\nX-A: 1\r\n\r\n";
    const HttpExchange exchange = capture(server, request, config);
    QVERIFY(!exchange.request.isEmpty());
    const QByteArray command = CurlCommand::build(exchange, CurlCommand::Style::Faithful);
    QTemporaryDir directory;
    const ShellRun run = runShell("sh", command, directory.path());
    QVERIFY2(run.exitCode == 0, qPrintable(QString::fromUtf8(command + "\n" + run.errors)));
    QCOMPARE(server.requests().size(), 2);
    // proxymon forwards the absolute form as it came; curl asks the server
    // itself, in origin form, without the header meant for the proxy.
    QCOMPARE(server.requests().at(1), "GET /p?x=1 HTTP/1.1\r\nHost: " + server.host() + "\r\nX-A: 1\r\n\r\n");
}

void CurlCommandTest::convenientVariantRuns()
{
    RecordingServer server;
    const QByteArray request = "POST /json HTTP/1.1\r\nHost: " + server.host()
        + "\r\nAccept-Encoding: identity\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{\"a\":1}\n";
    const HttpExchange exchange = capture(server, request);
    const QByteArray command = CurlCommand::build(exchange, CurlCommand::Style::Convenient);
    QVERIFY(command.contains("--compressed"));
    QVERIFY(!command.contains("Content-Length"));
    QVERIFY(!command.contains("Host:"));
    QTemporaryDir directory;
    const ShellRun run = runShell("sh", command, directory.path());
    QVERIFY2(run.exitCode == 0, qPrintable(QString::fromUtf8(command + "\n" + run.errors)));
    QCOMPARE(server.requests().size(), 2);
    const QByteArray sent = server.requests().at(1);
    QVERIFY2(sent.startsWith("POST /json HTTP/1.1\r\n"), sent.constData());
    QVERIFY(sent.contains("\r\nContent-Type: application/json\r\n"));
    QVERIFY(sent.contains("\r\nContent-Length: 8\r\n"));
    QVERIFY(sent.contains("\r\nAccept-Encoding: ")); // curl's own, for --compressed
    QVERIFY(sent.endsWith("\r\n\r\n{\"a\":1}\n"));
}

void CurlCommandTest::partBodySaysSo()
{
    RecordingServer server;
    ProxyConfig config;
    config.bodyPrefixBytes = 1000;
    const QByteArray body = randomBytes(5000, 3);
    const QByteArray request = "POST /big HTTP/1.1\r\nHost: " + server.host() + "\r\nContent-Length: 5000\r\n\r\n" + body;
    const HttpExchange exchange = capture(server, request, config);
    QCOMPARE(exchange.requestBodyBytes, 5000u);
    const QByteArray command = CurlCommand::build(exchange, CurlCommand::Style::Faithful);
    QVERIFY2(command.startsWith("# proxymon kept 1000 of 5000 body bytes"), command.left(200).constData());
    QTemporaryDir directory;
    const ShellRun run = runShell("sh", command, directory.path());
    QVERIFY2(run.exitCode == 0, qPrintable(QString::fromUtf8(run.errors)));
    const QByteArray sent = server.requests().at(1);
    QVERIFY(sent.contains("\r\nContent-Length: 1000\r\n"));
    QVERIFY(sent.endsWith("\r\n\r\n" + body.left(1000)));
}

void CurlCommandTest::wordsSurviveEveryByte()
{
    // Every byte value but NUL (argv cannot hold it), in one word, echoed
    // back by printf '%s' in both shells; then a long binary stream through
    // the printf commands a body uses.
    QByteArray all;
    for (int c = 1; c < 256; ++c)
        all.append(char(c));
    all += "'\"$(x)`y`\\%s";
    const QByteArray stream = randomBytes(100'000, 9);
    QTemporaryDir directory;
    for (const char *shell : {"sh", "bash"}) {
        QByteArray output;
        QCOMPARE(runShell(shell, "printf '%s' " + CurlCommand::shellWord(all), directory.path(), &output).exitCode, 0);
        QCOMPARE(output, all);
        QCOMPARE(runShell(shell, CurlCommand::printfCommands(stream), directory.path(), &output).exitCode, 0);
        QCOMPARE(sha256(output), sha256(stream));
    }
}

QTEST_GUILESS_MAIN(CurlCommandTest)
#include "tst_curlcommand.moc"
