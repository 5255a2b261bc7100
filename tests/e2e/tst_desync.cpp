// Request smuggling through proxymon, end to end: a battery of desync
// vectors (the classic CL.TE and TE.CL spellings, framing headers named in
// Connection, early answers, lax chunk lines, control bytes, HTTP/1.0 with
// Transfer-Encoding, pipelining after close) sent by a real client through
// the HTTP proxy and through forwarding to an origin that records every
// byte and answers each request it ran by name. Whatever reached the
// origin is read again by several reference servers (strict RFC 9112, LF
// or a bare CR as line end, CRLF-only chunk lines, Content-Length wins).
//
// HTTP proxy: proxymon either answers 4xx itself, or every reader agrees
// on the requests it sent, and its record lists exactly the requests the
// origin ran, each paired with its own answer.
// Forwarding: the bytes go on unchanged; where readers disagree, the
// record must say so with a flag on the request.

#include "loopback.h"
#include "runningproxy.h"
#include "referencereaders.h"

#include <QTest>

#include <poll.h>
#include <sys/socket.h>

#include <map>
#include <mutex>

using namespace Loopback;

namespace {

// Answers each request it reads (as a lenient server, LF ending lines)
// with its method and target as the body; a target starting "/early" is
// answered 413 as soon as its head is in, before its body, whose bytes are
// then read and dropped as its framing says (as nginx does). A request
// that closes the connection, or bytes it cannot read, end the connection.
class RecordingOrigin
{
public:
    RecordingOrigin()
        : m_server([this](Socket &connection, int index) { serve(connection, index); })
    {
    }

    quint16 port() const { return m_server.port(); }
    QList<QByteArray> ran() const
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_ran;
    }
    QList<QByteArray> received() const
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        QList<QByteArray> all;
        for (const auto &[index, bytes] : m_bytes)
            all.append(bytes);
        return all;
    }

private:
    void answer(int fd, const ReferenceReaders::Request &request, int status)
    {
        const QByteArray name = request.method + ' ' + request.target;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_ran.append(name);
        }
        sendAll(fd, "HTTP/1.1 " + QByteArray::number(status) + " Named\r\nContent-Length: "
                        + QByteArray::number(name.size()) + (request.closes ? "\r\nConnection: close" : "")
                        + "\r\n\r\n" + name);
    }

    void serve(Socket &connection, int index)
    {
        const ReferenceReaders::Rules &rules = ReferenceReaders::all().at(1);
        QByteArray bytes;
        qsizetype answered = 0;
        QList<qsizetype> early;
        for (;;) {
            char chunk[65536];
            const ssize_t n = ::recv(connection.fd(), chunk, sizeof chunk, 0);
            if (n <= 0)
                return;
            bytes.append(chunk, n);
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                m_bytes[index] = bytes;
            }
            const ReferenceReaders::Reading reading = ReferenceReaders::read(bytes, rules);
            for (; answered < reading.requests.size(); ++answered) {
                const ReferenceReaders::Request &request = reading.requests[answered];
                if (!early.contains(request.begin))
                    answer(connection.fd(), request, 200);
            }
            const ReferenceReaders::Request &partial = reading.partial;
            if (reading.outcome == ReferenceReaders::Reading::Outcome::Partial && partial.end > 0
                && partial.target.startsWith("/early") && !early.contains(partial.begin)) {
                early.append(partial.begin);
                answer(connection.fd(), partial, 413);
            }
            if (reading.outcome == ReferenceReaders::Reading::Outcome::Error) {
                sendAll(connection.fd(), "HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\nConnection: close\r\n\r\nerror");
                return;
            }
            if (!reading.requests.isEmpty() && reading.requests.last().closes)
                return;
        }
    }

    mutable std::mutex m_mutex;
    QList<QByteArray> m_ran;
    std::map<int, QByteArray> m_bytes; // by connection, in the order they came
    ScriptedServer m_server;
};

// A request proxymon's HTTP proxy answered itself.
bool answeredByProxymon(const HttpExchange &exchange)
{
    return exchange.responseBody.startsWith("proxymon: ");
}

// "METHOD /path" of a recorded request, absolute form or not.
QByteArray nameOf(const HttpHead &request)
{
    QByteArrayView target = request.target();
    if (target.startsWith("http://")) {
        const qsizetype path = target.indexOf('/', 7);
        target = path < 0 ? QByteArrayView("/") : target.sliced(path);
    }
    return request.method().toByteArray() + ' ' + target.toByteArray();
}

// The smuggled request most vectors hide in a body.
const QByteArray Smuggled = "GET /smug HTTP/1.1\r\nHost: x\r\n\r\n";
const QByteArray Wait = "<wait>";

struct Outcome
{
    QByteArray sent;      // what the client sent, placeholders filled in
    QByteArray received;  // what came back, to EOF
    QList<QByteArray> upstream; // each upstream connection's bytes
    QList<QByteArray> ran;
    QList<HttpExchange> exchanges;
    bool closed = false;
};

// Sends the parts through a proxy in mode, "{U}" as the origin's URL
// prefix in HTTP proxy mode (empty when forwarding) and "{H}" as its
// host:port; a Wait part waits for a response head first.
Outcome run(ProxyConfig::Mode mode, const QByteArrayList &parts)
{
    RecordingOrigin origin;
    ProxyConfig config;
    config.listenAddress = QHostAddress(QHostAddress::LocalHost);
    config.mode = mode;
    config.targetHost = QStringLiteral("127.0.0.1");
    config.targetPort = origin.port();
    config.stopGraceMs = 100;
    RunningProxy proxy;
    Outcome outcome;
    if (!proxy.start(config))
        return outcome;
    const QByteArray host = "127.0.0.1:" + QByteArray::number(origin.port());
    const QByteArray prefix = mode == ProxyConfig::Mode::HttpProxy ? "http://" + host : QByteArray();
    QByteArrayList filled;
    for (const QByteArray &part : parts) {
        filled.append(QByteArray(part).replace("{U}", prefix).replace("{H}", host));
        if (part != Wait)
            outcome.sent += filled.last();
    }
    outcome.received = offThread([&] {
        Socket client = connectTo("127.0.0.1", proxy.port());
        QByteArray got;
        for (const QByteArray &part : filled) {
            if (part != Wait) {
                sendAll(client.fd(), part);
                continue;
            }
            QElapsedTimer clock;
            clock.start();
            while (!got.contains("\r\n\r\n") && clock.elapsed() < 5000) {
                pollfd ready{client.fd(), POLLIN, 0};
                if (::poll(&ready, 1, 100) > 0) {
                    char chunk[4096];
                    const ssize_t n = ::recv(client.fd(), chunk, sizeof chunk, 0);
                    if (n <= 0)
                        break;
                    got.append(chunk, n);
                }
            }
        }
        client.shutdownWrite();
        return got + readUntilEof(client.fd());
    });
    outcome.closed = proxy.records.waitForClosed(1);
    if (outcome.closed) {
        const quint32 requests = proxy.records.closed().first().requests;
        proxy.records.waitForExchanges(int(requests), 3000);
    }
    QTest::qWait(60); // one more batch, for exchanges that came with the close
    outcome.exchanges = proxy.records.exchanges();
    outcome.upstream = origin.received();
    outcome.ran = origin.ran();
    return outcome;
}

QString listed(const QList<QByteArray> &names)
{
    return QString::fromLatin1(names.join(" | "));
}

} // namespace

class tst_Desync : public QObject
{
    Q_OBJECT

private slots:
    void readersTellTheClassicCasesApart();
    void httpProxyNeverDesyncs_data();
    void httpProxyNeverDesyncs();
    void forwardingRecordFlagsWhatReadersDisagreeOn_data() { httpProxyNeverDesyncs_data(); }
    void forwardingRecordFlagsWhatReadersDisagreeOn();
};

void tst_Desync::readersTellTheClassicCasesApart()
{
    // The oracle itself: without readers that disagree on these, the
    // battery could not fail.
    const QByteArray clte = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "0\r\n\r\nG";
    QVERIFY(!ReferenceReaders::disagreement(clte).isEmpty());
    const QByteArray bareCr = "POST / HTTP/1.1\r\nHost: x\r\nX: a\rContent-Length: " + QByteArray::number(Smuggled.size())
        + "\r\n\r\n" + Smuggled;
    QVERIFY(!ReferenceReaders::disagreement(bareCr).isEmpty());
    const QByteArray lfChunk = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "5\nhello\r\n0\r\n\r\n" + Smuggled;
    QVERIFY(!ReferenceReaders::disagreement(lfChunk).isEmpty());
    const QByteArray trailerSpace = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n \r\n" + Smuggled;
    QVERIFY(!ReferenceReaders::disagreement(trailerSpace).isEmpty());
    const QByteArray canonical = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        + Smuggled;
    QCOMPARE(ReferenceReaders::disagreement(canonical), QString());
    const ReferenceReaders::Reading reading = ReferenceReaders::read(canonical, ReferenceReaders::all().first());
    QCOMPARE(reading.requests.size(), 2);
    QCOMPARE(reading.requests[1].target, QByteArray("/smug"));
}

void tst_Desync::httpProxyNeverDesyncs_data()
{
    QTest::addColumn<QByteArrayList>("parts");
    // Through the HTTP proxy: what the origin runs, in order, and the
    // status proxymon answers itself (0: none).
    QTest::addColumn<QByteArrayList>("ran");
    QTest::addColumn<int>("answer");

    const QByteArray length = QByteArray::number(Smuggled.size());
    const QByteArray post = "POST {U}/p HTTP/1.1\r\nHost: {H}\r\n";
    const QByteArray next = "GET {U}/next HTTP/1.1\r\nHost: {H}\r\n\r\n";
    const QByteArray chunked = post + "Transfer-Encoding: chunked\r\n\r\n";
    const QByteArray smuggledChunk = QByteArray::number(Smuggled.size(), 16) + "\r\n" + Smuggled + "\r\n";
    const QByteArrayList none;
    const QByteArrayList postNext{"POST /p", "GET /next"};

    // 1. Framing headers named in Connection.
    QTest::newRow("Connection: Content-Length")
        << QByteArrayList{post + "Connection: Content-Length\r\nContent-Length: " + length + "\r\n\r\n" + Smuggled}
        << none << 400;
    QTest::newRow("Connection: Transfer-Encoding")
        << QByteArrayList{post + "Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggledChunk
                          + "0\r\n\r\n"}
        << none << 400;
    QTest::newRow("Proxy-Connection: Content-Length")
        << QByteArrayList{post + "Proxy-Connection: keep-alive, Content-Length\r\nContent-Length: " + length + "\r\n\r\n"
                          + Smuggled}
        << none << 400;
    QTest::newRow("Connection: Host") << QByteArrayList{"GET {U}/h HTTP/1.1\r\nHost: {H}\r\nConnection: Host\r\n\r\n"}
                                      << none << 400;

    // 2. Answers before the body is in, the body then carrying a request.
    QTest::newRow("early answer, body after it")
        << QByteArrayList{"POST {U}/early HTTP/1.1\r\nHost: {H}\r\nContent-Length: " + length + "\r\n\r\n", Wait,
                          Smuggled + next}
        << QByteArrayList{"POST /early", "GET /next"} << 0;
    QTest::newRow("100-continue answered early")
        << QByteArrayList{"POST {U}/early-expect HTTP/1.1\r\nHost: {H}\r\nExpect: 100-continue\r\nContent-Length: "
                              + length + "\r\n\r\n",
                          Wait, Smuggled + next}
        << QByteArrayList{"POST /early-expect", "GET /next"} << 0;
    QTest::newRow("early answer, chunked body after it")
        << QByteArrayList{"POST {U}/early HTTP/1.1\r\nHost: {H}\r\nTransfer-Encoding: chunked\r\n\r\n", Wait,
                          smuggledChunk + "0\r\n\r\n" + next}
        << QByteArrayList{"POST /early", "GET /next"} << 0;
    QTest::newRow("early answer, body half in")
        << QByteArrayList{"POST {U}/early HTTP/1.1\r\nHost: {H}\r\nContent-Length: " + length + "\r\n\r\n"
                              + Smuggled.left(10),
                          Wait, Smuggled.mid(10) + next}
        << QByteArrayList{"POST /early", "GET /next"} << 0;

    // 3. Chunk framing RFC 9112 7.1 does not allow.
    const struct
    {
        const char *name;
        QByteArray body;
    } laxChunks[] = {
        {"bare LF after a chunk size", "5\nhello\r\n0\r\n\r\n"},
        {"bare LF after chunk data", "5\r\nhello\n0\r\n\r\n"},
        {"leading whitespace", " 5\r\nhello\r\n0\r\n\r\n"},
        {"CR CR LF after a size", "5\r\r\nhello\r\n0\r\n\r\n"},
        {"words after a size", "5 xyz\r\nhello\r\n0\r\n\r\n"},
        {"bare CR in an extension", "5;a\rb\r\nhello\r\n0\r\n\r\n"},
        {"bare LF in an extension", "5;\nhello\r\n0\r\n\r\n"},
        {"whitespace line ends trailers", "0\r\n \r\n"},
        {"bare LF ends the last chunk", "0\n\r\n"},
        {"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"},
        {"oversized size", "fffffffffffffffff1\r\nhello\r\n0\r\n\r\n"},
    };
    for (const auto &lax : laxChunks)
        QTest::newRow(lax.name) << QByteArrayList{chunked + lax.body + Smuggled} << none << 400;
    QTest::newRow("extension and leading zeros, framed again")
        << QByteArrayList{chunked + "005;name=\"v;x\"\r\nhello\r\n0\r\n\r\n" + next} << postNext << 0;
    QTest::newRow("trailer field") << QByteArrayList{chunked + "5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n" + next} << postNext
                                   << 0;
    QTest::newRow("smuggled request as chunk data, split")
        << QByteArrayList{chunked + smuggledChunk.left(9), smuggledChunk.mid(9) + "0\r\n\r\n" + next} << postNext << 0;

    // 4. Control bytes in a head.
    QTest::newRow("bare CR hides Transfer-Encoding")
        << QByteArrayList{post + "X-Pad: a\rTransfer-Encoding: chunked\r\nContent-Length: " + length + "\r\n\r\n" + Smuggled}
        << none << 400;
    QTest::newRow("bare CR hides Content-Length")
        << QByteArrayList{post + "X: y\rContent-Length: " + length + "\r\n\r\n" + Smuggled} << none << 400;
    QTest::newRow("NUL in a value") << QByteArrayList{post + QByteArray("X: a\0b\r\n\r\n", 10)} << none << 400;
    QTest::newRow("VT in a value") << QByteArrayList{post + "X: a\x0b" "b\r\n\r\n"} << none << 400;
    QTest::newRow("bare CR in the request line")
        << QByteArrayList{"GET {U}/a\rGET /smug HTTP/1.1\r\nHost: {H}\r\n\r\n"} << none << 400;

    // 5. Laxer than the references.
    QTest::newRow("HTTP/1.0 with Transfer-Encoding")
        << QByteArrayList{"POST {U}/p HTTP/1.0\r\nHost: {H}\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggledChunk
                          + "0\r\n\r\n"}
        << none << 400;
    QTest::newRow("length list") << QByteArrayList{post + "Content-Length: 5, 5\r\n\r\nhello" + next} << postNext << 0;
    QTest::newRow("space inside the target") << QByteArrayList{"GET {U}/a /smug HTTP/1.1\r\nHost: {H}\r\n\r\n"} << none
                                             << 400;
    QTest::newRow("pipelined after close")
        << QByteArrayList{"GET {U}/a HTTP/1.1\r\nHost: {H}\r\nConnection: close\r\n\r\n" + next}
        << QByteArrayList{"GET /a"} << 0;
    QTest::newRow("HTTP/1.0 then pipelined")
        << QByteArrayList{"GET {U}/a HTTP/1.0\r\nHost: {H}\r\n\r\n" + next} << QByteArrayList{"GET /a"} << 0;
    QTest::newRow("requests behind a refusal")
        << QByteArrayList{"GET {U}/ok HTTP/1.1\r\nHost: {H}\r\n\r\nGET {U}/bad HTTP/1.1\r\nX: \x01\r\n\r\n" + next}
        << QByteArrayList{"GET /ok"} << 400;

    // The classic spellings, kept rejected.
    QTest::newRow("CL.TE") << QByteArrayList{post + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"}
                           << none << 400;
    QTest::newRow("TE.CL") << QByteArrayList{post + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggledChunk
                                             + "0\r\n\r\n"}
                           << none << 400;
    const char *teSpellings[] = {
        "Transfer-Encoding: xchunked\r\n",
        "Transfer-Encoding : chunked\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n",
        "Transfer-Encoding: chunked, identity\r\n",
        "X: y\r\n Transfer-Encoding: chunked\r\n",
        "Transfer-Encoding: \"chunked\"\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
    };
    for (const char *spelling : teSpellings)
        QTest::newRow(qPrintable(QByteArray("TE: ") + QByteArray(spelling).replace("\r\n", " / ")))
            << QByteArrayList{post + spelling + "\r\n" + smuggledChunk + "0\r\n\r\n"} << none << 400;
    QTest::newRow("tab before chunked")
        << QByteArrayList{post + "Transfer-Encoding:\tchunked\r\n\r\n" + smuggledChunk + "0\r\n\r\n" + next} << postNext
        << 0;
    QTest::newRow("signed length") << QByteArrayList{post + "Content-Length: +" + length + "\r\n\r\n" + Smuggled} << none
                                   << 400;
    QTest::newRow("two lengths")
        << QByteArrayList{post + "Content-Length: 0\r\nContent-Length: " + length + "\r\n\r\n" + Smuggled} << none << 400;
    QTest::newRow("obs-fold") << QByteArrayList{post + "X: a\r\n b\r\nContent-Length: 0\r\n\r\n" + next} << none << 400;
    // CL.0: a GET's body is its body, sent with its length.
    QTest::newRow("CL.0 on GET")
        << QByteArrayList{"GET {U}/g HTTP/1.1\r\nHost: {H}\r\nContent-Length: " + length + "\r\n\r\n" + Smuggled + next}
        << QByteArrayList{"GET /g", "GET /next"} << 0;

    // Benign traffic.
    QTest::newRow("keep-alive") << QByteArrayList{"GET {U}/a HTTP/1.1\r\nHost: {H}\r\n\r\n" + next}
                                << QByteArrayList{"GET /a", "GET /next"} << 0;
    QTest::newRow("chunked upload") << QByteArrayList{chunked + smuggledChunk + "0\r\n\r\n" + next} << postNext << 0;
}

void tst_Desync::httpProxyNeverDesyncs()
{
    QFETCH(QByteArrayList, parts);
    QFETCH(QByteArrayList, ran);
    QFETCH(int, answer);
    const Outcome outcome = run(ProxyConfig::Mode::HttpProxy, parts);
    QVERIFY(outcome.closed);
    for (const QByteArray &bytes : outcome.upstream) {
        const QString disagreement = ReferenceReaders::disagreement(bytes);
        QVERIFY2(disagreement.isEmpty(), qPrintable(QStringLiteral("readers disagree on\n%1\n%2")
                                                         .arg(QString::fromLatin1(bytes.toPercentEncoding(" /:;,=")),
                                                              disagreement)));
    }
    QCOMPARE(listed(outcome.ran), listed(ran));
    if (answer != 0) {
        QVERIFY2(outcome.received.contains("HTTP/1.1 " + QByteArray::number(answer) + ' ')
                     && outcome.received.contains("\r\n\r\nproxymon: "),
                 outcome.received.constData());
    } else {
        QVERIFY2(!outcome.received.contains("proxymon: "), outcome.received.constData());
    }
    // The record: each request the origin ran, with its own answer, and
    // proxymon's own answers; nothing else.
    QList<QByteArray> forwarded;
    for (const HttpExchange &exchange : outcome.exchanges) {
        QVERIFY2(exchange.response.status != 0, qPrintable("no answer recorded for " + nameOf(exchange.request)));
        if (answeredByProxymon(exchange))
            continue;
        forwarded.append(nameOf(exchange.request));
        QCOMPARE(exchange.responseBody, nameOf(exchange.request));
    }
    QCOMPARE(listed(forwarded), listed(ran));
}

void tst_Desync::forwardingRecordFlagsWhatReadersDisagreeOn()
{
    QFETCH(QByteArrayList, parts);
    const Outcome outcome = run(ProxyConfig::Mode::Forward, parts);
    QVERIFY(outcome.closed);
    QCOMPARE(outcome.upstream.size(), 1);
    const QByteArray upstream = outcome.upstream.first();
    // Relayed exactly (the origin may close before the end).
    QVERIFY(outcome.sent.startsWith(upstream));
    bool flagged = false;
    for (const HttpExchange &exchange : outcome.exchanges)
        flagged = flagged || (exchange.flags & ~quint32(HttpHead::BodyShort));
    if (flagged)
        return; // the record says it may be wrong
    const QString disagreement = ReferenceReaders::disagreement(upstream);
    QVERIFY2(disagreement.isEmpty(), qPrintable(QStringLiteral("readers disagree, and the record does not say so:\n%1\n%2")
                                                     .arg(QString::fromLatin1(upstream.toPercentEncoding(" /:;,=")),
                                                          disagreement)));
    // Unflagged, the record pairs each request the origin ran with its
    // own answer; a request it shows unanswered claims nothing.
    QList<QByteArray> answered;
    for (const HttpExchange &exchange : outcome.exchanges) {
        if (exchange.response.status == 0 || exchange.responseBody == "error")
            continue;
        answered.append(nameOf(exchange.request));
        QCOMPARE(exchange.responseBody, nameOf(exchange.request));
    }
    QCOMPARE(listed(answered), listed(outcome.ran));
}

QTEST_GUILESS_MAIN(tst_Desync)
#include "tst_desync.moc"
