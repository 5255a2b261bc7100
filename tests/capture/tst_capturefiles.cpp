// Sessions and HAR files from real traffic: curl through proxymon (HTTP
// proxy mode) to loopback origins, the capture saved, opened again and
// saved again; the HAR checked by the HAR 1.2 schema (har-validator) and
// read back.

#include "captureexport.h"
#include "capturesnapshot.h"
#include "capturestore.h"
#include "harreader.h"
#include "harwriter.h"
#include "httpmessagestream.h"
#include "loopback.h"
#include "runningproxy.h"
#include "sessionreader.h"

#include <QBuffer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <sys/socket.h>

using namespace Loopback;

namespace {

constexpr qsizetype BigBytes = 3 * 1024 * 1024;

// Answers by path, keep-alive, until the client closes.
void serveOrigin(Socket &connection)
{
    HttpMessageStream stream(HttpHead::Kind::Request);
    for (;;) {
        char chunk[16384];
        const ssize_t n = ::recv(connection.fd(), chunk, sizeof chunk, 0);
        if (n <= 0)
            return;
        QList<HttpMessageStream::Event> events;
        stream.feed(QByteArrayView(chunk, n), &events);
        static thread_local QByteArray method, target;
        for (const HttpMessageStream::Event &event : events) {
            if (event.type == HttpMessageStream::Event::Type::Head) {
                method = event.head.method().toByteArray();
                target = event.head.target().toByteArray();
                if (target.startsWith("http://"))
                    target = target.mid(target.indexOf('/', 7));
            }
            if (event.type != HttpMessageStream::Event::Type::End)
                continue;
            const bool head = method == "HEAD";
            QByteArray body;
            QByteArray headers = "Content-Type: text/plain; charset=utf-8\r\n";
            if (target == "/gzip") {
                body = gzip(QByteArray("compressed text, ").repeated(200));
                headers += "Content-Encoding: gzip\r\n";
            } else if (target == "/big") {
                body = randomBytes(BigBytes, 4);
                headers = "Content-Type: application/octet-stream\r\n";
            } else if (target == "/chunked") {
                sendAll(connection.fd(), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                         "6\r\nchunk \r\n5\r\nby ch\r\n4\r\nunk\n\r\n0\r\n\r\n");
                continue;
            } else if (target == "/abort") {
                sendAll(connection.fd(), "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + QByteArray(100, 'a'));
                return;
            } else if (target == "/upload") {
                body = "stored";
            } else {
                body = "hello \xc3\xa9t\xc3\xa9";
                headers += "Set-Cookie: session=abc; Path=/; HttpOnly\r\n";
            }
            sendAll(connection.fd(), "HTTP/1.1 200 OK\r\n" + headers + "Content-Length: "
                                         + QByteArray::number(body.size()) + "\r\n\r\n" + (head ? QByteArray() : body));
        }
    }
}

int runCurl(const QStringList &arguments)
{
    QProcess curl;
    curl.start(QStringLiteral("curl"), QStringList{QStringLiteral("-s"), QStringLiteral("-o"), QStringLiteral("/dev/null"),
                                                   QStringLiteral("--max-time"), QStringLiteral("20")}
                                           + arguments);
    if (!curl.waitForFinished(30'000)) {
        curl.kill();
        curl.waitForFinished(2'000);
        return -1;
    }
    return curl.exitCode();
}

QByteArray sessionOf(const CaptureStore &store)
{
    QBuffer buffer;
    buffer.open(QIODevice::WriteOnly);
    CaptureExport::toSession(CaptureSnapshot::take(store, CaptureSelection()), &buffer);
    return buffer.data();
}

QJsonObject harOf(const CaptureStore &store)
{
    QBuffer buffer;
    buffer.open(QIODevice::WriteOnly);
    HarWriter::write(CaptureSnapshot::take(store, CaptureSelection()), &buffer);
    return QJsonDocument::fromJson(buffer.data()).object().value(QLatin1String("log")).toObject();
}

} // namespace

class CaptureFilesTest : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void sessionSavesOpensAndSavesTheSame();
    void jsonlWithoutBodiesOpensBestEffort();
    void brokenFilesAreRefusedSayingWhere();
    void harIsValidAndHoldsWhatWasSeen();
    void harReadBackWritesTheSame();

private:
    CaptureStore m_store;
    QTemporaryDir m_directory;
};

void CaptureFilesTest::initTestCase()
{
    ScriptedServer origin([](Socket &connection, int) { serveOrigin(connection); });
    const bool ipv6 = ipv6Available();
    std::unique_ptr<ScriptedServer> origin6;
    if (ipv6)
        origin6 = std::make_unique<ScriptedServer>([](Socket &connection, int) { serveOrigin(connection); }, "::1");

    ProxyConfig config;
    config.listenAddress = QHostAddress(QHostAddress::LocalHost);
    config.mode = ProxyConfig::Mode::HttpProxy;
    config.bodyPrefixBytes = 1024 * 1024;
    config.stopGraceMs = 100;
    RunningProxy proxy;
    connect(&proxy.server, &ProxyServer::published, this,
            [this](const QList<ConnectionRecord> &batch, const QList<HttpExchange> &exchanges) {
                m_store.add(batch, exchanges);
            });
    QVERIFY(proxy.start(config));
    const QString via = QStringLiteral("http://127.0.0.1:%1").arg(proxy.port());
    const QString base = QStringLiteral("http://127.0.0.1:%1").arg(origin.port());
    const QString upload = m_directory.filePath(QStringLiteral("upload.bin"));
    {
        QFile file(upload);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(QByteArray("\x00\xff\x01 binary\r\n", 12) + randomBytes(5000, 8));
    }
    QList<QStringList> runs = {
        {QStringLiteral("--compressed"), base + QStringLiteral("/text"), base + QStringLiteral("/gzip")}, // keep-alive
        {QStringLiteral("-I"), base + QStringLiteral("/text")},
        {base + QStringLiteral("/chunked")},
        {base + QStringLiteral("/big")},
        {base + QStringLiteral("/abort")},
        {QStringLiteral("--data-binary"), QLatin1Char('@') + upload, base + QStringLiteral("/upload")},
        {QStringLiteral("-p"), base + QStringLiteral("/text")}, // through a CONNECT tunnel
    };
    if (ipv6)
        runs.append({QStringLiteral("http://[::1]:%1/text").arg(origin6->port())});
    for (const QStringList &run : std::as_const(runs)) {
        const int exit = offThread([&] { return runCurl(QStringList{QStringLiteral("-x"), via} + run); });
        QVERIFY2(exit == 0 || run.last().endsWith(QLatin1String("/abort")), qPrintable(run.join(u' ')));
    }
    QVERIFY(proxy.records.waitForClosed(int(runs.size()), 20'000));
    proxy.server.stop();
    QTRY_VERIFY_WITH_TIMEOUT(!proxy.server.isDraining(), 10'000);
    QVERIFY(m_store.exchangeCount() >= runs.size() + 1);
}

void CaptureFilesTest::sessionSavesOpensAndSavesTheSame()
{
    const QByteArray saved = sessionOf(m_store);
    const SessionReader::Result opened = SessionReader::read(saved);
    QVERIFY2(opened.ok(), qPrintable(opened.error));
    QCOMPARE(opened.kind, QStringLiteral("session"));
    QCOMPARE(opened.records.size(), m_store.connectionCount());
    QCOMPARE(opened.exchanges.size(), m_store.exchangeCount());

    CaptureStore again;
    again.add(opened.records, opened.exchanges);
    const QByteArray savedAgain = sessionOf(again);
    QCOMPARE(savedAgain.size(), saved.size());
    QVERIFY(savedAgain == saved);

    // Heads and kept bodies byte for byte, the 3 MiB body's first MiB too.
    bool sawBig = false;
    for (qsizetype row = 0; row < m_store.exchangeCount(); ++row) {
        const HttpExchange &original = m_store.exchangeAt(row);
        const auto match = std::find_if(opened.exchanges.cbegin(), opened.exchanges.cend(), [&](const HttpExchange &e) {
            return e.connectionId == original.connectionId && e.sequence == original.sequence;
        });
        QVERIFY(match != opened.exchanges.cend());
        QCOMPARE(match->request.raw, original.request.raw);
        QCOMPARE(match->response.raw, original.response.raw);
        QCOMPARE(match->responseBody, original.responseBody);
        QCOMPARE(match->requestBody, original.requestBody);
        QCOMPARE(match->responseBodyBytes, original.responseBodyBytes);
        QCOMPARE(match->flags, original.flags);
        QCOMPARE(match->responseCompleteMs, original.responseCompleteMs);
        if (original.responseBodyBytes == quint64(BigBytes)) {
            sawBig = true;
            QCOMPARE(match->responseBody.size(), 1024 * 1024);
        }
    }
    QVERIFY(sawBig);
    for (qsizetype row = 0; row < m_store.connectionCount(); ++row) {
        const ConnectionRecord &original = m_store.connectionAt(row);
        const ConnectionRecord &back = opened.records.at(row);
        QCOMPARE(back.id, original.id);
        QCOMPARE(back.client, original.client);
        QCOMPARE(back.closeReason, original.closeReason);
        QCOMPARE(back.bytesDown, original.bytesDown);
        QCOMPARE(back.openedMs, original.openedMs);
        QCOMPARE(back.closedMs, original.closedMs);
        QCOMPARE(back.httpProxy, original.httpProxy);
    }
}

void CaptureFilesTest::jsonlWithoutBodiesOpensBestEffort()
{
    QBuffer buffer;
    buffer.open(QIODevice::WriteOnly);
    CaptureExport::toJsonl(CaptureSnapshot::take(m_store, CaptureSelection()), &buffer);
    const SessionReader::Result opened = SessionReader::read(buffer.data());
    QVERIFY2(opened.ok(), qPrintable(opened.error));
    QCOMPARE(opened.kind, QStringLiteral("jsonl"));
    QCOMPARE(opened.exchanges.size(), m_store.exchangeCount());
    // The heads are rebuilt: same start line and headers.
    const HttpExchange &first = opened.exchanges.first();
    QCOMPARE(first.request.method(), m_store.exchangeAt(0).request.method());
    QCOMPARE(first.request.headers.size(), m_store.exchangeAt(0).request.headers.size());
    QVERIFY(first.responseBody.isEmpty());
}

void CaptureFilesTest::brokenFilesAreRefusedSayingWhere()
{
    const QByteArray saved = sessionOf(m_store);
    // Cut inside a line, and at a line's end.
    const SessionReader::Result midLine = SessionReader::read(saved.left(saved.size() / 2));
    QVERIFY(!midLine.ok());
    QVERIFY2(midLine.error.contains(QLatin1String("cut short")), qPrintable(midLine.error));
    QVERIFY(midLine.records.isEmpty());
    const qsizetype lineEnd = saved.indexOf('\n', saved.size() / 2) + 1;
    const SessionReader::Result atLine = SessionReader::read(saved.left(lineEnd));
    QVERIFY(!atLine.ok());
    QVERIFY2(atLine.error.contains(QLatin1String("cut short")), qPrintable(atLine.error));

    const SessionReader::Result garbage = SessionReader::read("PK\x03\x04 not ours\n");
    QVERIFY2(garbage.error.startsWith(QLatin1String("line 1: not a proxymon session")), qPrintable(garbage.error));
    QByteArray damaged = saved;
    const qsizetype third = damaged.indexOf('\n', damaged.indexOf('\n') + 1) + 1;
    damaged.insert(third + 1, "}}");
    const SessionReader::Result bad = SessionReader::read(damaged);
    QVERIFY2(bad.error.startsWith(QLatin1String("line 3: not JSON at column")), qPrintable(bad.error));
    // A HAR on one line that speaks of an "event" early is still a HAR.
    const SessionReader::Result oneLine = SessionReader::read(
        "{\"log\":{\"comment\":\"\\\"event\\\"\",\"version\":\"1.2\",\"creator\":{\"name\":\"x\",\"version\":\"1\"},"
        "\"entries\":[]}}");
    QVERIFY2(oneLine.ok(), qPrintable(oneLine.error));
    QCOMPARE(oneLine.kind, QStringLiteral("har"));
    const SessionReader::Result badHar = SessionReader::read("{\"log\": {\"entries\": [\n{]}}\n");
    QVERIFY2(badHar.error.startsWith(QLatin1String("not valid JSON at line 2")), qPrintable(badHar.error));
}

void CaptureFilesTest::harIsValidAndHoldsWhatWasSeen()
{
    const QString path = m_directory.filePath(QStringLiteral("capture.har"));
    {
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        const CaptureExport::Counts counts = HarWriter::write(CaptureSnapshot::take(m_store, CaptureSelection()), &file);
        QVERIFY(counts.complete);
    }
    QProcess node;
    node.start(QStringLiteral("node"), {QStringLiteral(PROXYMON_HAR_VALIDATOR), path});
    QVERIFY(node.waitForFinished(30'000));
    QVERIFY2(node.exitCode() == 0, node.readAllStandardError().left(4000).constData());

    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QJsonObject log = QJsonDocument::fromJson(file.readAll()).object().value(QLatin1String("log")).toObject();
    QCOMPARE(log.value(QLatin1String("pages")).toArray().size(), 0);
    const QJsonArray entries = log.value(QLatin1String("entries")).toArray();
    bool sawGzip = false, sawTruncated = false, sawHead = false, sawChunked = false, sawAborted = false,
         sawUpload = false, sawIpv6 = false;
    for (const QJsonValue &value : entries) {
        const QJsonObject entry = value.toObject();
        const QJsonObject timings = entry.value(QLatin1String("timings")).toObject();
        qint64 sum = 0;
        for (const char *phase : {"blocked", "dns", "connect", "send", "wait", "receive"}) {
            const qint64 ms = timings.value(QLatin1String(phase)).toInteger();
            QVERIFY(ms >= -1);
            sum += qMax<qint64>(ms, 0);
        }
        for (const char *phase : {"send", "wait", "receive"})
            QVERIFY(timings.value(QLatin1String(phase)).toInteger() >= 0);
        QCOMPARE(entry.value(QLatin1String("time")).toInteger(), sum);
        QVERIFY(timings.value(QLatin1String("ssl")).toInteger() <= qMax<qint64>(timings.value(QLatin1String("connect")).toInteger(), -1));
        QCOMPARE(entry.value(QLatin1String("cache")).toObject(), QJsonObject());
        const QJsonObject request = entry.value(QLatin1String("request")).toObject();
        const QJsonObject response = entry.value(QLatin1String("response")).toObject();
        const QJsonObject content = response.value(QLatin1String("content")).toObject();
        const QString url = request.value(QLatin1String("url")).toString();
        if (url.endsWith(QLatin1String("/gzip"))) {
            sawGzip = true;
            QCOMPARE(content.value(QLatin1String("text")).toString(), QStringLiteral("compressed text, ").repeated(200));
            QCOMPARE(content.value(QLatin1String("size")).toInteger(), 17 * 200);
            QVERIFY(response.value(QLatin1String("bodySize")).toInteger() < 17 * 200);
        } else if (url.endsWith(QLatin1String("/big"))) {
            sawTruncated = true;
            QCOMPARE(response.value(QLatin1String("bodySize")).toInteger(), BigBytes);
            QCOMPARE(content.value(QLatin1String("encoding")).toString(), QStringLiteral("base64"));
            QCOMPARE(QByteArray::fromBase64(content.value(QLatin1String("text")).toString().toLatin1()).size(), 1024 * 1024);
            QVERIFY(content.value(QLatin1String("comment")).toString().contains(QLatin1String("kept 1048576 of 3145728")));
            QCOMPARE(entry.value(QLatin1String("_proxymon")).toObject().value(QLatin1String("responseBodyKept")).toInteger(),
                     1024 * 1024);
        } else if (request.value(QLatin1String("method")).toString() == QLatin1String("HEAD")) {
            sawHead = true;
            QCOMPARE(response.value(QLatin1String("bodySize")).toInteger(), 0);
        } else if (url.endsWith(QLatin1String("/chunked"))) {
            sawChunked = true;
            QCOMPARE(content.value(QLatin1String("text")).toString(), QStringLiteral("chunk by chunk\n"));
        } else if (url.endsWith(QLatin1String("/abort"))) {
            sawAborted = true;
            QVERIFY(entry.value(QLatin1String("comment")).toString().contains(QLatin1String("did not end normally")));
            QCOMPARE(entry.value(QLatin1String("_proxymon")).toObject().value(QLatin1String("complete")).toBool(), false);
        } else if (url.endsWith(QLatin1String("/upload"))) {
            sawUpload = true;
            const QJsonObject postData = request.value(QLatin1String("postData")).toObject();
            QCOMPARE(postData.value(QLatin1String("encoding")).toString(), QStringLiteral("base64"));
            QCOMPARE(request.value(QLatin1String("bodySize")).toInteger(), 5012);
        }
        if (url.startsWith(QLatin1String("http://[::1]"))) {
            sawIpv6 = true;
            QCOMPARE(entry.value(QLatin1String("serverIPAddress")).toString(), QStringLiteral("::1"));
        }
    }
    QVERIFY(sawGzip && sawTruncated && sawHead && sawChunked && sawAborted && sawUpload);
    QVERIFY(sawIpv6 || !ipv6Available());
    // The tunnel is not an entry; it is listed with proxymon's connections.
    const QJsonArray others = log.value(QLatin1String("_proxymon")).toObject().value(QLatin1String("connections")).toArray();
    QVERIFY(std::any_of(others.begin(), others.end(), [](const QJsonValue &other) {
        return !other.toObject().value(QLatin1String("tunnels")).toArray().isEmpty();
    }));
}

void CaptureFilesTest::harReadBackWritesTheSame()
{
    const QJsonObject first = harOf(m_store);
    const QByteArray text = QJsonDocument(QJsonObject{{QStringLiteral("log"), first}}).toJson();
    const SessionReader::Result opened = SessionReader::read(text);
    QVERIFY2(opened.ok(), qPrintable(opened.error));
    QCOMPARE(opened.kind, QStringLiteral("har"));
    CaptureStore again;
    again.add(opened.records, opened.exchanges);
    const QJsonObject second = harOf(again);
    const QJsonArray a = first.value(QLatin1String("entries")).toArray();
    const QJsonArray b = second.value(QLatin1String("entries")).toArray();
    QCOMPARE(b.size(), a.size());
    for (qsizetype i = 0; i < a.size(); ++i) {
        if (a[i] != b[i]) {
            QFAIL(qPrintable(QStringLiteral("entry %1 differs:\n%2\n%3")
                                 .arg(i)
                                 .arg(QString::fromUtf8(QJsonDocument(a[i].toObject()).toJson().left(3000)),
                                      QString::fromUtf8(QJsonDocument(b[i].toObject()).toJson().left(3000)))));
        }
    }
}

QTEST_GUILESS_MAIN(CaptureFilesTest)
#include "tst_capturefiles.moc"
