// The forward proxy's HTTP logic without sockets: where requests go, what
// the upstream gets, which answers proxymon gives itself, and when an
// upstream may be reused or must be left.

#include "httpproxyfront.h"

#include <QTest>

using Step = HttpProxyFront::Step;

namespace {

const QByteArray Via = "proxymon-test";

HttpProxyFront makeFront(qsizetype maxHeadBytes = 64 * 1024)
{
    HttpHeadParser::Limits limits;
    limits.maxBytes = maxHeadBytes;
    return HttpProxyFront(limits, Via);
}

// Feeds the bytes whole, or one byte at a time.
void feed(HttpProxyFront &front, const QByteArray &bytes, bool byteByByte)
{
    if (!byteByByte) {
        front.clientBytes(bytes);
        return;
    }
    for (qsizetype i = 0; i < bytes.size(); ++i)
        front.clientBytes(QByteArrayView(bytes).sliced(i, 1));
}

// Everything the front has for the upstream now, as if sent.
QByteArray takeAll(HttpProxyFront &front)
{
    QByteArray out;
    while (front.step() == Step::Send) {
        const QByteArrayView bytes = front.outgoing();
        out += bytes;
        front.sent(bytes.size());
    }
    return out;
}

} // namespace

class tst_HttpProxyFront : public QObject
{
    Q_OBJECT

private slots:
    void rewritesToOriginForm_data();
    void rewritesToOriginForm();
    void refusals_data();
    void refusals();
    void headOverCapIsRefusedBeforeItEnds();
    void bodiesAreFramedAgain();
    void earlyAnswerEndsReuse();
    void nothingReadAfterClose();
    void bytesTaken();
    void secondHostWaitsForFirstResponse();
    void sameHostReusesUpstream();
    void closeResponseEndsReuse();
    void interimResponseKeepsRequestWaiting();
    void closeDelimitedResponsePassesFinOn();
    void unansweredRequestGets502();
    void connectCarriesEarlyBytes();
    void connectionFailureAnswers();
    void backpressure();
    void earlyResponseDropsTheRestOfTheRequest();
    void brokenBodyReplacesTheResponse();
};

void tst_HttpProxyFront::rewritesToOriginForm_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<QString>("route");
    QTest::addColumn<QByteArray>("expected");

    QTest::newRow("hop-by-hop removed")
        << QByteArray("GET http://example.org/a/b?q=1 HTTP/1.1\r\nHost: wrong.example\r\nUser-Agent: t\r\n"
                      "Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\nConnection: X-Secret, "
                      "keep-alive\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nAccept: */*\r\n\r\n")
        << QStringLiteral("example.org:80")
        << QByteArray("GET /a/b?q=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t\r\nAccept: */*\r\n"
                      "Via: 1.1 proxymon-test\r\n\r\n");
    QTest::newRow("port, no path")
        << QByteArray("GET http://127.0.0.1:8081 HTTP/1.1\r\n\r\n") << QStringLiteral("127.0.0.1:8081")
        << QByteArray("GET / HTTP/1.1\r\nHost: 127.0.0.1:8081\r\nVia: 1.1 proxymon-test\r\n\r\n");
    QTest::newRow("query without path, fragment dropped")
        << QByteArray("GET HTTP://Example.org?x=1#top HTTP/1.1\r\n\r\n") << QStringLiteral("Example.org:80")
        << QByteArray("GET /?x=1 HTTP/1.1\r\nHost: Example.org\r\nVia: 1.1 proxymon-test\r\n\r\n");
    QTest::newRow("user info not passed on")
        << QByteArray("GET http://user:pw@example.org/ HTTP/1.1\r\n\r\n") << QStringLiteral("example.org:80")
        << QByteArray("GET / HTTP/1.1\r\nHost: example.org\r\nVia: 1.1 proxymon-test\r\n\r\n");
    QTest::newRow("ipv6 literal")
        << QByteArray("GET http://[::1]:8080/x HTTP/1.1\r\n\r\n") << QStringLiteral("[::1]:8080")
        << QByteArray("GET /x HTTP/1.1\r\nHost: [::1]:8080\r\nVia: 1.1 proxymon-test\r\n\r\n");
    QTest::newRow("HTTP/1.0 keeps its one-shot connection")
        << QByteArray("GET http://example.org/ HTTP/1.0\n\n") << QStringLiteral("example.org:80")
        << QByteArray("GET / HTTP/1.0\r\nHost: example.org\r\nVia: 1.0 proxymon-test\r\nConnection: close\r\n\r\n");
    QTest::newRow("close asked by the client")
        << QByteArray("GET http://example.org/ HTTP/1.1\r\nConnection: close\r\n\r\n")
        << QStringLiteral("example.org:80")
        << QByteArray("GET / HTTP/1.1\r\nHost: example.org\r\nVia: 1.1 proxymon-test\r\nConnection: close\r\n\r\n");
    // One framing in proxymon's words: a repeated length as one value, the
    // codings on one line.
    QTest::newRow("a length list sent as one value")
        << QByteArray("POST http://example.org/ HTTP/1.1\r\nContent-Length: 3, 3\r\nX: y\r\n\r\nabc")
        << QStringLiteral("example.org:80")
        << QByteArray("POST / HTTP/1.1\r\nHost: example.org\r\nX: y\r\nContent-Length: 3\r\n"
                      "Via: 1.1 proxymon-test\r\n\r\nabc");
    QTest::newRow("codings on one line")
        << QByteArray("POST http://example.org/ HTTP/1.1\r\nTransfer-Encoding: GZIP\r\nTransfer-Encoding:\tchunked\r\n"
                      "\r\n0\r\n\r\n")
        << QStringLiteral("example.org:80")
        << QByteArray("POST / HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: gzip, chunked\r\n"
                      "Via: 1.1 proxymon-test\r\n\r\n0\r\n\r\n");
    QTest::newRow("an earlier proxy's Via is kept")
        << QByteArray("GET http://example.org/ HTTP/1.1\r\nVia: 1.1 squid\r\n\r\n") << QStringLiteral("example.org:80")
        << QByteArray("GET / HTTP/1.1\r\nHost: example.org\r\nVia: 1.1 squid\r\nVia: 1.1 proxymon-test\r\n\r\n");
}

void tst_HttpProxyFront::rewritesToOriginForm()
{
    QFETCH(QByteArray, request);
    QFETCH(QString, route);
    QFETCH(QByteArray, expected);
    for (const bool byteByByte : {false, true}) {
        HttpProxyFront front = makeFront();
        feed(front, request, byteByByte);
        QCOMPARE(front.step(), Step::Connect);
        QCOMPARE(front.route().text(), route);
        front.connected();
        QCOMPARE(takeAll(front), expected);
    }
}

void tst_HttpProxyFront::refusals_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("why");

    QTest::newRow("origin form") << QByteArray("GET / HTTP/1.1\r\nHost: www.google.com\r\n\r\n") << 400
                                 << QStringLiteral("not a proxy request");
    QTest::newRow("lab request without colon") << QByteArray("GET / HTTP/1.1\nwww.google.com\n\n") << 400
                                               << QStringLiteral("malformed");
    QTest::newRow("https URL") << QByteArray("GET https://example.org/ HTTP/1.1\r\n\r\n") << 400
                               << QStringLiteral("CONNECT");
    QTest::newRow("bad port") << QByteArray("GET http://example.org:99999/ HTTP/1.1\r\n\r\n") << 400
                              << QStringLiteral("not a valid host");
    QTest::newRow("no host") << QByteArray("GET http:///x HTTP/1.1\r\n\r\n") << 400
                             << QStringLiteral("not a valid host");
    QTest::newRow("CONNECT without port") << QByteArray("CONNECT example.org HTTP/1.1\r\n\r\n") << 400
                                          << QStringLiteral("host:port");
    QTest::newRow("smuggling") << QByteArray("POST http://example.org/ HTTP/1.1\r\nContent-Length: 3\r\n"
                                             "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
                               << 400 << QStringLiteral("ambiguous");
    QTest::newRow("TLS") << QByteArray("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) << 400
                         << QStringLiteral("not HTTP");
    QTest::newRow("loop") << QByteArray("GET http://example.org/ HTTP/1.1\r\nVia: 1.1 proxymon-test\r\n\r\n") << 508
                          << QStringLiteral("loop");
    // Each of these would let a server read a request proxymon did not
    // send (issue 34's classes).
    QTest::newRow("Connection names Content-Length")
        << QByteArray("POST http://example.org/ HTTP/1.1\r\nConnection: Content-Length\r\nContent-Length: 3\r\n\r\nabc")
        << 400 << QStringLiteral("Connection names Content-Length");
    QTest::newRow("Proxy-Connection names Transfer-Encoding")
        << QByteArray("POST http://example.org/ HTTP/1.1\r\nProxy-Connection: keep-alive, transfer-encoding\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        << 400 << QStringLiteral("Connection names Transfer-Encoding");
    QTest::newRow("Connection names Host")
        << QByteArray("GET http://example.org/ HTTP/1.1\r\nConnection: host\r\nHost: x\r\n\r\n") << 400
        << QStringLiteral("Connection names Host");
    QTest::newRow("bare CR hides Transfer-Encoding")
        << QByteArray("POST http://example.org/ HTTP/1.1\r\nX-Pad: a\rTransfer-Encoding: chunked\r\n"
                      "Content-Length: 3\r\n\r\nabc")
        << 400 << QStringLiteral("control character");
    QTest::newRow("NUL in a value") << QByteArray("GET http://example.org/ HTTP/1.1\r\nX: a\0b\r\n\r\n", 44) << 400
                                    << QStringLiteral("control character");
    QTest::newRow("HTTP/1.0 with Transfer-Encoding")
        << QByteArray("POST http://example.org/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") << 400
        << QStringLiteral("HTTP/1.0");
    QTest::newRow("space in the target") << QByteArray("GET http://example.org/a b HTTP/1.1\r\n\r\n") << 400
                                         << QStringLiteral("malformed");
    QTest::newRow("chunked twice")
        << QByteArray("POST http://example.org/ HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n")
        << 400 << QStringLiteral("end in chunked, once");
    QTest::newRow("lax chunk line")
        << QByteArray("POST http://example.org/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n")
        << 400 << QStringLiteral("RFC 9112");
    QTest::newRow("too many headers") << QByteArray("GET http://example.org/ HTTP/1.1\r\n"
                                                    + QByteArray("X: y\r\n").repeated(101) + "\r\n")
                                      << 431 << QStringLiteral("over");
}

void tst_HttpProxyFront::refusals()
{
    QFETCH(QByteArray, request);
    QFETCH(int, status);
    QFETCH(QString, why);
    HttpProxyFront front = makeFront();
    front.clientBytes(request);
    QCOMPARE(front.step(), Step::Answer);
    QCOMPARE(front.answer().status, status);
    QVERIFY2(front.answer().why.contains(why), qPrintable(front.answer().why));
    QVERIFY(!front.wantsClientBytes(1 << 20));
    const QByteArray answer = HttpProxyFront::answerBytes(front.answer());
    QVERIFY(answer.startsWith("HTTP/1.1 " + QByteArray::number(status) + ' '));
    QVERIFY(answer.contains("Connection: close\r\n"));
    QVERIFY(answer.endsWith(front.answer().why.toUtf8() + '\n'));
}

void tst_HttpProxyFront::headOverCapIsRefusedBeforeItEnds()
{
    HttpProxyFront front = makeFront(1024);
    front.clientBytes("GET http://example.org/ HTTP/1.1\r\nX-Long: ");
    QCOMPARE(front.step(), Step::Wait);
    front.clientBytes(QByteArray(2000, 'a'));
    QCOMPARE(front.step(), Step::Answer);
    QCOMPARE(front.answer().status, 431);
}

void tst_HttpProxyFront::bodiesAreFramedAgain()
{
    // Chunks in proxymon's own framing: sizes in plain hex, no extensions;
    // trailers pass unless they would frame or route the request.
    const QByteArray chunkedBody("05;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-X: 1\r\n"
                                 "Content-Length: 9\r\n\r\n");
    const QByteArray canonical("5\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-X: 1\r\n\r\n");
    const QByteArray requests = "POST http://example.org/upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunkedBody + "PUT http://example.org/put HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd";
    for (const bool byteByByte : {false, true}) {
        HttpProxyFront front = makeFront();
        feed(front, requests, byteByByte);
        QCOMPARE(front.step(), Step::Connect);
        front.connected();
        const QByteArray first = takeAll(front);
        QCOMPARE(first, "POST /upload HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: chunked\r\n"
                        "Via: 1.1 proxymon-test\r\n\r\n" + canonical);
        // The PUT waits for the POST's response.
        QCOMPARE(front.step(), Step::Wait);
        front.upstreamBytes("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
        QCOMPARE(front.step(), Step::Send);
        QCOMPARE(takeAll(front), QByteArray("PUT /put HTTP/1.1\r\nHost: example.org\r\nContent-Length: 4\r\n"
                                            "Via: 1.1 proxymon-test\r\n\r\nabcd"));
    }
}

void tst_HttpProxyFront::secondHostWaitsForFirstResponse()
{
    HttpProxyFront front = makeFront();
    front.clientBytes("GET http://a.test/1 HTTP/1.1\r\n\r\nGET http://b.test:81/2 HTTP/1.1\r\n\r\n");
    QCOMPARE(front.step(), Step::Connect);
    QCOMPARE(front.route().text(), QStringLiteral("a.test:80"));
    front.connected();
    QVERIFY(takeAll(front).startsWith("GET /1 "));
    QCOMPARE(front.step(), Step::Wait);
    QCOMPARE(front.inFlight(), 1);
    front.upstreamBytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n");
    QVERIFY(front.responseUnderway());
    QCOMPARE(front.step(), Step::Wait);
    front.upstreamBytes("ok");
    QVERIFY(!front.responseUnderway());
    QCOMPARE(front.step(), Step::Connect);
    QCOMPARE(front.route().text(), QStringLiteral("b.test:81"));
    front.connected();
    QVERIFY(takeAll(front).startsWith("GET /2 "));
    front.upstreamBytes("HTTP/1.1 204 No Content\r\n\r\n");
    QVERIFY(front.idle());
    QVERIFY(!front.closeWhenIdle());
}

void tst_HttpProxyFront::sameHostReusesUpstream()
{
    HttpProxyFront front = makeFront();
    front.clientBytes("HEAD http://a.test/1 HTTP/1.1\r\n\r\n");
    QCOMPARE(front.step(), Step::Connect);
    front.connected();
    takeAll(front);
    // A HEAD response has no body whatever its Content-Length says.
    front.upstreamBytes("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    QVERIFY(front.idle());
    front.clientBytes("GET http://a.test/2 HTTP/1.1\r\n\r\n");
    QCOMPARE(front.step(), Step::Send);
    QVERIFY(front.upstreamReusable());
}

void tst_HttpProxyFront::closeResponseEndsReuse()
{
    HttpProxyFront front = makeFront();
    front.clientBytes("GET http://a.test/1 HTTP/1.1\r\n\r\nGET http://a.test/2 HTTP/1.1\r\n\r\n");
    front.connected();
    takeAll(front);
    front.upstreamBytes("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    QVERIFY(!front.upstreamReusable());
    QVERIFY(front.closeWhenIdle());
    QCOMPARE(front.step(), Step::Connect);
}

void tst_HttpProxyFront::interimResponseKeepsRequestWaiting()
{
    HttpProxyFront front = makeFront();
    front.clientBytes("POST http://a.test/ HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    front.connected();
    takeAll(front);
    front.upstreamBytes("HTTP/1.1 100 Continue\r\n\r\n");
    QCOMPARE(front.inFlight(), 1);
    front.clientBytes("abc");
    QCOMPARE(takeAll(front), QByteArray("abc"));
    front.upstreamBytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    QCOMPARE(front.inFlight(), 0);
    QVERIFY(front.idle());
}

void tst_HttpProxyFront::closeDelimitedResponsePassesFinOn()
{
    HttpProxyFront front = makeFront();
    front.clientBytes("GET http://a.test/ HTTP/1.0\r\n\r\n");
    front.connected();
    takeAll(front);
    front.upstreamBytes("HTTP/1.0 200 OK\r\n\r\nuntil the end");
    QCOMPARE(front.upstreamEnded(), HttpProxyFront::UpstreamEnd::PassOn);
    QVERIFY(front.idle());
}

void tst_HttpProxyFront::unansweredRequestGets502()
{
    HttpProxyFront front = makeFront();
    front.clientBytes("GET http://a.test/ HTTP/1.1\r\n\r\nGET http://a.test/next HTTP/1.1\r\n\r\n");
    front.connected();
    takeAll(front);
    QCOMPARE(front.upstreamEnded(), HttpProxyFront::UpstreamEnd::Failed);
    QCOMPARE(front.step(), Step::Answer);
    QCOMPARE(front.answer().status, 502);
    QVERIFY(front.answer().why.contains(QStringLiteral("without answering")));

    // An idle upstream that goes away owes nothing.
    HttpProxyFront idle = makeFront();
    idle.clientBytes("GET http://a.test/ HTTP/1.1\r\n\r\n");
    idle.connected();
    takeAll(idle);
    idle.upstreamBytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    QCOMPARE(idle.upstreamEnded(), HttpProxyFront::UpstreamEnd::Idle);
    QCOMPARE(idle.step(), Step::Wait);
}

void tst_HttpProxyFront::connectCarriesEarlyBytes()
{
    for (const bool byteByByte : {false, true}) {
        HttpProxyFront front = makeFront();
        feed(front, QByteArray("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n\x16\x03\x01hello", 67),
             byteByByte);
        QCOMPARE(front.step(), Step::Tunnel);
        QCOMPARE(front.route().text(), QStringLiteral("example.org:443"));
        QCOMPARE(front.outgoing(), QByteArrayView("\x16\x03\x01hello", 8));
    }
    // A tunnel after a plain request waits for its response.
    HttpProxyFront front = makeFront();
    front.clientBytes("GET http://a.test/ HTTP/1.1\r\n\r\nCONNECT b.test:22 HTTP/1.1\r\n\r\nSSH-2.0");
    front.connected();
    takeAll(front);
    QCOMPARE(front.step(), Step::Wait);
    front.upstreamBytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    QCOMPARE(front.step(), Step::Tunnel);
    QCOMPARE(front.outgoing(), QByteArrayView("SSH-2.0"));
}

void tst_HttpProxyFront::connectionFailureAnswers()
{
    HttpProxyFront front = makeFront();
    front.clientBytes("GET http://a.test/ HTTP/1.1\r\n\r\nGET http://a.test/2 HTTP/1.1\r\n\r\n");
    QCOMPARE(front.step(), Step::Connect);
    front.failed(504, QStringLiteral("connecting to a.test:80 timed out"));
    QCOMPARE(front.step(), Step::Answer);
    QCOMPARE(front.answer().status, 504);
    QVERIFY(HttpProxyFront::answerBytes(front.answer()).startsWith("HTTP/1.1 504 Gateway Timeout\r\n"));
    // Nothing more is read once an answer closes the connection.
    QVERIFY(!front.wantsClientBytes(1 << 20));
}

void tst_HttpProxyFront::backpressure()
{
    HttpProxyFront front = makeFront();
    front.clientBytes("POST http://a.test/ HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
    QVERIFY(front.wantsClientBytes(4096));
    front.clientBytes(QByteArray(5000, 'x'));
    QVERIFY(!front.wantsClientBytes(4096));
    front.connected();
    takeAll(front);
    QVERIFY(front.wantsClientBytes(4096));
}

void tst_HttpProxyFront::earlyResponseDropsTheRestOfTheRequest()
{
    HttpProxyFront front = makeFront();
    front.clientBytes("PUT http://a.test/big HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
    front.connected();
    takeAll(front);
    front.clientBytes(QByteArray(3000, 'x'));
    // The server refuses before the body is in, and the client's next
    // bytes (the rest of that body) do not count against it.
    front.upstreamBytes("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n");
    QVERIFY(front.idle());
    QVERIFY(front.wantsClientBytes(2048));
    front.clientBytes(QByteArray(5000, 'x'));
    QVERIFY(front.wantsClientBytes(2048));
    QCOMPARE(front.step(), Step::Wait);
}

void tst_HttpProxyFront::earlyAnswerEndsReuse()
{
    // Answered before its body was in: the upstream would take the next
    // request for the rest of that body, so the next goes to a new one.
    HttpProxyFront front = makeFront();
    front.clientBytes("POST http://a.test/up HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    front.connected();
    takeAll(front);
    front.upstreamBytes("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
    QVERIFY(!front.upstreamReusable());
    front.clientBytes("defghijGET http://a.test/next HTTP/1.1\r\n\r\n");
    QCOMPARE(front.step(), Step::Connect);
    front.connected();
    QCOMPARE(takeAll(front), QByteArray("GET /next HTTP/1.1\r\nHost: a.test\r\nVia: 1.1 proxymon-test\r\n\r\n"));

    // Wholly sent before the answer: the upstream read it all, and serves on.
    HttpProxyFront whole = makeFront();
    whole.clientBytes("POST http://a.test/up HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    whole.connected();
    takeAll(whole);
    whole.upstreamBytes("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
    QVERIFY(whole.upstreamReusable());
}

void tst_HttpProxyFront::nothingReadAfterClose()
{
    // RFC 9112 9.6: nothing after a request that closes the connection is
    // a request, however it is pipelined.
    HttpProxyFront front = makeFront();
    const QByteArray first = "POST http://a.test/last HTTP/1.1\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
    QCOMPARE(front.clientBytes(first + "GET http://a.test/smug HTTP/1.1\r\n\r\n"), first.size());
    QCOMPARE(front.clientBytes("GET http://a.test/more HTTP/1.1\r\n\r\n"), 0);
    front.connected();
    QCOMPARE(takeAll(front), QByteArray("POST /last HTTP/1.1\r\nHost: a.test\r\nContent-Length: 2\r\n"
                                        "Via: 1.1 proxymon-test\r\nConnection: close\r\n\r\nok"));
    front.upstreamBytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    QVERIFY(front.idle());
    QVERIFY(front.closeWhenIdle());
    QVERIFY(front.wantsClientBytes(2048)); // read on, so that closing does not reset
}

void tst_HttpProxyFront::bytesTaken()
{
    // What the record may show: up to the end of a refused head, and
    // nothing queued behind it.
    HttpProxyFront front = makeFront();
    const QByteArray good = "GET http://a.test/ok HTTP/1.1\r\n\r\n";
    const QByteArray bad = "GET http://a.test/bad HTTP/1.1\r\nX: \x01\r\n\r\n";
    QCOMPARE(front.clientBytes(good + bad + "GET http://a.test/after HTTP/1.1\r\n\r\n"), good.size() + bad.size());
    QCOMPARE(front.clientBytes("more"), 0);
    // Split anywhere, the same.
    HttpProxyFront split = makeFront();
    qsizetype taken = 0;
    const QByteArray all = good + bad + "GET http://a.test/after HTTP/1.1\r\n\r\n";
    for (qsizetype i = 0; i < all.size(); i += 7)
        taken += split.clientBytes(QByteArrayView(all).sliced(i, qMin<qsizetype>(7, all.size() - i)));
    QCOMPARE(taken, good.size() + bad.size());
}

void tst_HttpProxyFront::brokenBodyReplacesTheResponse()
{
    // Half of a chunked body is upstream already when the framing breaks:
    // no response will come, so proxymon answers at once.
    HttpProxyFront front = makeFront();
    front.clientBytes("POST http://a.test/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    front.connected();
    takeAll(front);
    QCOMPARE(front.inFlight(), 1);
    front.clientBytes("zz-not-a-chunk-size\r\n");
    QCOMPARE(front.step(), Step::Answer);
    QCOMPARE(front.answer().status, 400);
    QVERIFY(front.answer().why.contains(QStringLiteral("chunked")));
    QVERIFY(!front.hasUpstream());
}

QTEST_GUILESS_MAIN(tst_HttpProxyFront)
#include "tst_httpproxyfront.moc"
