#include "httpmessagestream.h"

#include <QTest>

using Kind = HttpHead::Kind;
using Type = HttpMessageStream::Event::Type;

// Each case is fed whole, split in two at every position and byte by byte,
// then finished (the direction's FIN); the messages found must not depend on
// how the bytes were split.
class tst_HttpMessageStream : public QObject
{
    Q_OBJECT

private slots:
    void requests_data();
    void requests();
    void responses_data();
    void responses();
    void upgradeSwitchesTheOtherDirection();
    void bodyBytesCanBePassedBy();
    void framingAndBodyRebuildTheWire();

private:
    static QString run(Kind kind, const QList<QByteArrayView> &parts, const QList<QByteArray> &methods);
    static void check(Kind kind, const QByteArray &input, const QList<QByteArray> &methods, const QString &expected);
};

QString tst_HttpMessageStream::run(Kind kind, const QList<QByteArrayView> &parts, const QList<QByteArray> &methods)
{
    HttpMessageStream stream(kind);
    for (const QByteArray &method : methods)
        stream.expectResponseTo(method);
    QList<HttpMessageStream::Event> events;
    QStringList out;
    QByteArray body;
    qsizetype tunnel = 0;
    auto drain = [&] {
        for (const HttpMessageStream::Event &e : events) {
            switch (e.type) {
            case Type::Head: {
                const HttpHead &h = e.head;
                QString text = h.kind == Kind::Request ? QString::fromLatin1(h.method().toByteArray() + ' ' + h.target().toByteArray())
                                                       : QString::number(h.status);
                if (h.flags)
                    text += QStringLiteral(" ") + QString::fromLatin1(h.flagNames().join(','));
                out.append(QStringLiteral("H(%1)").arg(text));
                break;
            }
            case Type::Body:
                body += e.bytes.toByteArray();
                break;
            case Type::Framing:
                break; // framingAndBodyRebuildTheWire() looks at these
            case Type::End:
                if (!body.isEmpty())
                    out.append(QStringLiteral("B[%1]").arg(QString::fromLatin1(body)));
                body.clear();
                if (e.flags) {
                    HttpHead flagsOnly;
                    flagsOnly.flags = e.flags;
                    out.append(QStringLiteral("E(%1)").arg(QString::fromLatin1(flagsOnly.flagNames().join(','))));
                } else {
                    out.append(QStringLiteral("E"));
                }
                break;
            case Type::Tunnel:
                tunnel += e.bytes.size();
                break;
            case Type::NotHttp:
                out.append(QStringLiteral("X"));
                break;
            }
        }
        events.clear();
    };
    for (const QByteArrayView part : parts) {
        stream.feed(part, &events);
        drain();
    }
    stream.finish(&events);
    drain();
    if (tunnel)
        out.append(QStringLiteral("T%1").arg(tunnel));
    return out.join(u' ');
}

void tst_HttpMessageStream::check(Kind kind, const QByteArray &input, const QList<QByteArray> &methods,
                                  const QString &expected)
{
    QCOMPARE(run(kind, {input}, methods), expected);
    for (qsizetype split = 1; split < input.size(); ++split) {
        const QString result = run(kind, {QByteArrayView(input).first(split), QByteArrayView(input).sliced(split)}, methods);
        QVERIFY2(result == expected, qPrintable(QStringLiteral("split at %1: %2").arg(split).arg(result)));
    }
    QList<QByteArrayView> bytes;
    for (qsizetype i = 0; i < input.size(); ++i)
        bytes.append(QByteArrayView(input).sliced(i, 1));
    QCOMPARE(run(kind, bytes, methods), expected);
}

void tst_HttpMessageStream::requests_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QString>("expected");

    QTest::newRow("keep-alive GETs") << QByteArray("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n")
                                     << "H(GET /a) E H(GET /b) E";
    QTest::newRow("pipelined GET HEAD POST") << QByteArray(
        "GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\nPOST /3 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /4 HTTP/1.1\r\n\r\n")
        << "H(GET /1) E H(HEAD /2) E H(POST /3) B[hello] E H(GET /4) E";
    QTest::newRow("chunked with extension and trailer") << QByteArray(
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=val\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\nGET /n HTTP/1.1\r\n\r\n")
        << "H(POST /c) B[hello world] E H(GET /n) E";
    QTest::newRow("chunked bare LF") << QByteArray("POST /c HTTP/1.1\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n")
                                     << "H(POST /c bare_lf) B[abc] E(lax_chunk)";
    // Each line RFC 9112 7.1 does not allow is followed and flagged.
    QTest::newRow("chunk size with leading space")
        << QByteArray("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n")
        << "H(POST /c) B[abc] E(lax_chunk)";
    QTest::newRow("chunk size then CR CR LF")
        << QByteArray("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\r\nabc\r\n0\r\n\r\n")
        << "H(POST /c) B[abc] E(lax_chunk)";
    QTest::newRow("words after the size")
        << QByteArray("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3 junk\r\nabc\r\n0\r\n\r\n")
        << "H(POST /c) B[abc] E(lax_chunk)";
    QTest::newRow("bare CR in an extension")
        << QByteArray("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a\rb\r\nabc\r\n0\r\n\r\n")
        << "H(POST /c) B[abc] E(lax_chunk)";
    QTest::newRow("whitespace line ends the trailers")
        << QByteArray("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n \r\n")
        << "H(POST /c) B[abc] E(lax_chunk)";
    QTest::newRow("extensions and a trailer, strictly")
        << QByteArray("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3 ; a = \"x\\\"y\" ;b\r\nabc\r\n"
                      "0\r\nX-T: 1\r\n\r\n")
        << "H(POST /c) B[abc] E";
    QTest::newRow("HTTP/1.0 with Transfer-Encoding")
        << QByteArray("POST /c HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        << "H(POST /c ambiguous_framing) B[abc] E";
    QTest::newRow("expect 100-continue") << QByteArray(
        "PUT /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata")
        << "H(PUT /u) B[data] E";
    QTest::newRow("CL and TE: smuggling") << QByteArray(
        "POST /s HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n\r\n")
        << "H(POST /s ambiguous_framing) E H(GET /x) E";
    QTest::newRow("conflicting lengths") << QByteArray("POST /s HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcd")
                                         << "H(POST /s ambiguous_framing) B[abcd] E";
    QTest::newRow("repeated equal lengths") << QByteArray("POST /s HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc")
                                            << "H(POST /s) B[abc] E";
    QTest::newRow("body shorter than announced") << QByteArray("POST /p HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
                                                 << "H(POST /p) B[abc] E(body_short)";
    QTest::newRow("CONNECT then tunnel") << QByteArray("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n\x16\x03\x01")
                                         << "H(CONNECT example.org:443) E T3";
    QTest::newRow("lab request") << QByteArray("GET / HTTP/1.1\nwww.google.com\n\n")
                                 << "H(GET / bare_lf,malformed_line) E";
    QTest::newRow("TLS") << QByteArray("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03") << "X";
    QTest::newRow("bad chunk size") << QByteArray("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
                                    << "H(POST /c) X";
}

void tst_HttpMessageStream::requests()
{
    QFETCH(QByteArray, input);
    QFETCH(QString, expected);
    check(Kind::Request, input, {}, expected);
}

void tst_HttpMessageStream::responses_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QList<QByteArray>>("methods");
    QTest::addColumn<QString>("expected");

    QTest::newRow("content-length, keep-alive") << QByteArray(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        << QList<QByteArray>{"GET", "GET"} << "H(200) B[hi] E H(404) E";
    QTest::newRow("HEAD has no body") << QByteArray(
        "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
        << QList<QByteArray>{"HEAD", "GET"} << "H(200) E H(200) B[abc] E";
    QTest::newRow("204 and 304") << QByteArray(
        "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n")
        << QList<QByteArray>{"DELETE", "GET"} << "H(204) E H(304) E";
    QTest::newRow("100 continue then final") << QByteArray(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
        << QList<QByteArray>{"PUT"} << "H(100) E H(201) B[ok] E";
    QTest::newRow("chunked response") << QByteArray(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\nwiki\r\n0\r\n\r\n")
        << QList<QByteArray>{"GET"} << "H(200) B[wiki] E";
    QTest::newRow("close-delimited") << QByteArray("HTTP/1.0 200 OK\r\n\r\nuntil the end")
                                     << QList<QByteArray>{"GET"} << "H(200) B[until the end] E";
    QTest::newRow("101 switching") << QByteArray("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello")
                                   << QList<QByteArray>{"GET"} << "H(101) E T7";
    QTest::newRow("CONNECT established") << QByteArray("HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03")
                                         << QList<QByteArray>{"CONNECT"} << "H(200) E T3";
    QTest::newRow("CONNECT refused") << QByteArray("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 4\r\n\r\nnope")
                                     << QList<QByteArray>{"CONNECT"} << "H(502) B[nope] E";
    QTest::newRow("not HTTP") << QByteArray("SSH-2.0-OpenSSH_9.2\r\n") << QList<QByteArray>{} << "X";
}

void tst_HttpMessageStream::responses()
{
    QFETCH(QByteArray, input);
    QFETCH(QList<QByteArray>, methods);
    QFETCH(QString, expected);
    check(Kind::Response, input, methods, expected);
}

void tst_HttpMessageStream::upgradeSwitchesTheOtherDirection()
{
    // The request side learns of the 101 from the response side.
    HttpMessageStream requests(Kind::Request);
    QList<HttpMessageStream::Event> events;
    requests.feed("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", &events);
    QCOMPARE(events.size(), 2);
    QCOMPARE(events[1].type, Type::End);
    requests.switchToTunnel();
    events.clear();
    requests.feed("\x81\x85masked", &events);
    QCOMPARE(events.size(), 1);
    QCOMPARE(events[0].type, Type::Tunnel);
    QVERIFY(requests.isTunnel());
}

void tst_HttpMessageStream::bodyBytesCanBePassedBy()
{
    // What the relay's splice path relies on: the stream says how many body
    // bytes lie ahead, and passing them by lands it where feeding them would.
    QList<HttpMessageStream::Event> events;
    HttpMessageStream stream(Kind::Response);
    stream.expectResponseTo("GET");
    stream.expectResponseTo("GET");
    stream.expectResponseTo("GET");
    QCOMPARE(stream.bodyBytesAhead(), quint64(0)); // a head comes first
    stream.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab", &events);
    QCOMPARE(stream.bodyBytesAhead(), quint64(8));
    events.clear();
    stream.passBody(5, &events);
    QVERIFY(events.isEmpty());
    QCOMPARE(stream.bodyBytesAhead(), quint64(3));
    stream.passBody(3, &events);
    QCOMPARE(events.size(), 1);
    QCOMPARE(events[0].type, Type::End);
    QCOMPARE(stream.bodyBytesAhead(), quint64(0));
    events.clear();

    // Chunked: one chunk's data at a time; its framing is parsed as usual.
    stream.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n", &events);
    QCOMPARE(stream.bodyBytesAhead(), quint64(6));
    stream.passBody(6, &events);
    QCOMPARE(stream.bodyBytesAhead(), quint64(0));
    events.clear();
    stream.feed("\r\n3\r\nxyz\r\n0\r\n\r\n", &events);
    // The framing lines come as events of their own, each in its place.
    QStringList kinds;
    for (const HttpMessageStream::Event &event : std::as_const(events))
        kinds.append(event.type == Type::Body      ? QStringLiteral("body ") + QString::fromLatin1(event.bytes.toByteArray())
                     : event.type == Type::Framing ? QStringLiteral("framing ") + QString::fromLatin1(event.framing.toHex())
                     : event.type == Type::End     ? QStringLiteral("end")
                                                   : QStringLiteral("other"));
    QCOMPARE(kinds, QStringList({"framing 0d0a", "framing 330d0a", "body xyz", "framing 0d0a", "framing 300d0a",
                                 "framing 0d0a", "end"}));
    events.clear();

    // A body that runs to the end of the connection has no end ahead.
    stream.feed("HTTP/1.0 200 OK\r\n\r\n", &events);
    QVERIFY(stream.bodyBytesAhead() > quint64(1) << 40);
    events.clear();
    stream.passBody(1000, &events);
    QVERIFY(events.isEmpty());
    stream.finish(&events);
    QCOMPARE(events.size(), 1);
    QCOMPARE(events[0].type, Type::End);
    QCOMPARE(events[0].flags, 0u);
}

void tst_HttpMessageStream::framingAndBodyRebuildTheWire()
{
    // A chunked body with extensions, an empty-looking chunk line split
    // anywhere, and trailers: its data and framing, in event order, are
    // the bytes that came, however they were cut.
    const QByteArray head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const QByteArray wire = "5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n";
    const QByteArray next = "HTTP/1.1 204 No Content\r\n\r\n";
    for (const qsizetype piece : {qsizetype(1), qsizetype(3), qsizetype(7), qsizetype(1000)}) {
        HttpMessageStream stream(Kind::Response);
        stream.expectResponseTo("GET");
        stream.expectResponseTo("GET");
        const QByteArray input = head + wire + next;
        QByteArray rebuilt;
        QByteArray decoded;
        int ends = 0;
        for (qsizetype at = 0; at < input.size(); at += piece) {
            QList<HttpMessageStream::Event> events;
            stream.feed(QByteArrayView(input).sliced(at, qMin(piece, input.size() - at)), &events);
            for (const HttpMessageStream::Event &event : events) {
                if (event.type == Type::Body) {
                    rebuilt += event.bytes.toByteArray();
                    decoded += event.bytes.toByteArray();
                } else if (event.type == Type::Framing) {
                    rebuilt += event.framing;
                } else if (event.type == Type::End) {
                    ++ends;
                }
            }
        }
        QCOMPARE(rebuilt, wire);
        QCOMPARE(decoded, QByteArray("helloabcdefghijklmnopqrstuvwxyz"));
        QCOMPARE(ends, 2);
    }
}

QTEST_APPLESS_MAIN(tst_HttpMessageStream)
#include "tst_httpmessagestream.moc"
