#include "httpheadparser.h"

#include <QTest>

using Status = HttpHeadParser::Status;
using Kind = HttpHead::Kind;

// Every case is fed whole, split in two at every position, and one byte at
// a time; all must agree with the expected outcome.
class tst_HttpHeadParser : public QObject
{
    Q_OBJECT

private slots:
    void heads_data();
    void heads();
    void headerCap();
    void byteCap();
    void lookupIsCaseInsensitive();
    void resetParsesTheNextHead();
    void hostOfRequest_data();
    void hostOfRequest();

private:
    static QString describe(Status status, qsizetype used, const HttpHead &head);
    static QString feedAll(HttpHeadParser &parser, const QList<QByteArrayView> &parts);
};

QString tst_HttpHeadParser::describe(Status status, qsizetype used, const HttpHead &head)
{
    if (status == Status::Invalid)
        return QStringLiteral("invalid");
    if (status == Status::NeedMore)
        return QStringLiteral("more %1").arg(used);
    QStringList headers;
    for (const HttpHead::Header &header : head.headers)
        headers.append(QString::fromLatin1(head.name(header).toByteArray() + '=' + head.value(header).toByteArray()));
    QStringList flags;
    for (const QByteArray &flag : head.flagNames())
        flags.append(QString::fromLatin1(flag));
    const QString start = head.kind == Kind::Request
        ? QString::fromLatin1(head.method().toByteArray() + ' ' + head.target().toByteArray() + ' ' + head.version().toByteArray())
        : QString::fromLatin1(head.version().toByteArray() + ' ' + QByteArray::number(head.status) + ' ' + head.reason().toByteArray());
    return QStringLiteral("done %1 [%2] {%3} (%4)").arg(used).arg(start, headers.join(u'|'), flags.join(u','));
}

QString tst_HttpHeadParser::feedAll(HttpHeadParser &parser, const QList<QByteArrayView> &parts)
{
    qsizetype total = 0;
    for (const QByteArrayView part : parts) {
        qsizetype used = 0;
        const Status status = parser.feed(part, &used);
        total += used;
        if (status != Status::NeedMore)
            return describe(status, total, parser.takeHead());
    }
    return describe(Status::NeedMore, total, HttpHead());
}

void tst_HttpHeadParser::heads_data()
{
    QTest::addColumn<int>("kind");
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QString>("expected");

    const int request = int(Kind::Request);
    const int response = int(Kind::Response);

    // The networking lab's own clients.
    QTest::newRow("lab bare LF") << request << QByteArray("GET / HTTP/1.1\nHost: www.google.com\n\n")
                                 << "done 37 [GET / HTTP/1.1] {Host=www.google.com} (bare_lf)";
    QTest::newRow("lab no colon") << request << QByteArray("GET / HTTP/1.1\nwww.google.com\n\n")
                                  << "done 31 [GET / HTTP/1.1] {www.google.com=} (bare_lf,malformed_line)";
    QTest::newRow("body follows") << request << QByteArray("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
                                  << "done 39 [POST /x HTTP/1.1] {Content-Length=5} ()";
    QTest::newRow("pipelined") << request << QByteArray("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
                               << "done 19 [GET /a HTTP/1.1] {} ()";
    QTest::newRow("leading CRLF") << request << QByteArray("\r\nGET / HTTP/1.1\r\n\r\n")
                                  << "done 20 [GET / HTTP/1.1] {} ()";
    QTest::newRow("order and case kept") << request
                                         << QByteArray("GET / HTTP/1.1\r\nhOsT: a\r\nAccept: */*\r\nhost:b \r\n\r\n")
                                         << "done 49 [GET / HTTP/1.1] {hOsT=a|Accept=*/*|host=b} ()";
    QTest::newRow("obs-fold") << request << QByteArray("GET / HTTP/1.1\r\nX: a\r\n  b\r\n\r\n")
                              << "done 29 [GET / HTTP/1.1] {X=a b} (malformed_line)";
    QTest::newRow("obs-fold twice, then more headers")
        << request << QByteArray("GET / HTTP/1.1\r\nX: a\r\n b\r\n\tc\r\nY: d\r\n e\r\nZ: f\r\n\r\n")
        << "done 48 [GET / HTTP/1.1] {X=a b c|Y=d e|Z=f} (malformed_line)";
    QTest::newRow("space before colon") << request << QByteArray("GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n")
                                        << "done 38 [GET / HTTP/1.1] {Content-Length =5} (malformed_line)";
    QTest::newRow("HTTP/0.9 style") << request << QByteArray("GET /\r\n\r\n") << "invalid";
    QTest::newRow("Redis command") << request << QByteArray("PING\r\n") << "invalid";
    // Kept, and flagged: a server may end the line there.
    QTest::newRow("NUL in value kept") << request << QByteArray("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26)
                                       << QString::fromLatin1("done 26 [GET / HTTP/1.1] {X=a\0b} (control_char)", 47);
    QTest::newRow("bare CR hides a header")
        << request << QByteArray("GET / HTTP/1.1\r\nX: a\rContent-Length: 5\r\n\r\n")
        << QStringLiteral("done 42 [GET / HTTP/1.1] {X=a\rContent-Length: 5} (control_char)");
    QTest::newRow("blank line of CRs") << request << QByteArray("GET / HTTP/1.1\r\nX: a\r\n\r\r\n")
                                       << QStringLiteral("done 25 [GET / HTTP/1.1] {X=a|\r=} (malformed_line,control_char)");
    QTest::newRow("tab kept unflagged") << request << QByteArray("GET / HTTP/1.1\r\nX: a\tb\r\n\r\n")
                                        << QStringLiteral("done 26 [GET / HTTP/1.1] {X=a\tb} ()");
    QTest::newRow("space inside the target")
        << request << QByteArray("GET /a b HTTP/1.1\r\n\r\n") << QStringLiteral("done 21 [GET /a b HTTP/1.1] {} (malformed_line)");
    QTest::newRow("two spaces before the target")
        << request << QByteArray("GET  /a HTTP/1.1\r\n\r\n") << QStringLiteral("done 20 [GET /a HTTP/1.1] {} (malformed_line)");
    QTest::newRow("incomplete") << request << QByteArray("GET / HTTP/1.1\r\nHost: a\r\n") << "more 25";
    QTest::newRow("TLS client hello") << request << QByteArray("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
                                      << "invalid";
    QTest::newRow("SSH banner") << request << QByteArray("SSH-2.0-OpenSSH_9.2p1 Debian\r\n") << "invalid";
    QTest::newRow("method too long") << request << QByteArray(40, 'A') << "invalid";

    QTest::newRow("response") << response << QByteArray("HTTP/1.1 204 No Content\r\nX: y\r\n\r\n")
                              << "done 33 [HTTP/1.1 204 No Content] {X=y} ()";
    QTest::newRow("no reason") << response << QByteArray("HTTP/1.1 200\r\n\r\n") << "done 16 [HTTP/1.1 200 ] {} ()";
    QTest::newRow("bad status") << response << QByteArray("HTTP/1.1 OK\r\n\r\n")
                                << "done 15 [HTTP/1.1 0 ] {} (malformed_line)";
    QTest::newRow("interim then final") << response
                                        << QByteArray("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")
                                        << "done 25 [HTTP/1.1 100 Continue] {} ()";
    QTest::newRow("binary response") << response << QByteArray("\x00\x01HTTP/1.1", 10) << "invalid";
    QTest::newRow("not HTTP reply") << response << QByteArray("+OK POP3 ready\r\n") << "invalid";
}

void tst_HttpHeadParser::heads()
{
    QFETCH(int, kind);
    QFETCH(QByteArray, input);
    QFETCH(QString, expected);

    {
        HttpHeadParser parser{Kind(kind)};
        QCOMPARE(feedAll(parser, {input}), expected);
    }
    for (qsizetype split = 1; split < input.size(); ++split) {
        HttpHeadParser parser{Kind(kind)};
        const QString result = feedAll(parser, {QByteArrayView(input).first(split), QByteArrayView(input).sliced(split)});
        QVERIFY2(result == expected, qPrintable(QStringLiteral("split at %1: %2").arg(split).arg(result)));
    }
    {
        HttpHeadParser parser{Kind(kind)};
        QList<QByteArrayView> bytes;
        for (qsizetype i = 0; i < input.size(); ++i)
            bytes.append(QByteArrayView(input).sliced(i, 1));
        QCOMPARE(feedAll(parser, bytes), expected);
    }
}

void tst_HttpHeadParser::headerCap()
{
    QByteArray input("GET / HTTP/1.1\r\n");
    for (int i = 0; i < 120; ++i)
        input += "X-" + QByteArray::number(i) + ": v\r\n";
    input += "\r\n";
    HttpHeadParser parser(Kind::Request);
    qsizetype used = 0;
    QCOMPARE(parser.feed(input, &used), Status::Complete);
    QCOMPARE(used, input.size());
    const HttpHead head = parser.takeHead();
    QCOMPARE(head.headers.size(), 100);
    QVERIFY(head.has(HttpHead::Truncated));
    QCOMPARE(head.name(head.headers.last()), QByteArrayView("X-99"));
}

void tst_HttpHeadParser::byteCap()
{
    // Past the cap the parser keeps looking for the end (to find the body)
    // but keeps only what fits, and only whole lines are parsed.
    QByteArray input("GET /long HTTP/1.1\r\nA: 1\r\nB: " + QByteArray(200, 'x') + "\r\nC: 3\r\n\r\nbody");
    HttpHeadParser::Limits limits;
    limits.maxBytes = 40;
    HttpHeadParser parser(Kind::Request, limits);
    qsizetype used = 0;
    QCOMPARE(parser.feed(input, &used), Status::Complete);
    QCOMPARE(used, input.size() - 4);
    const HttpHead head = parser.takeHead();
    QVERIFY(head.has(HttpHead::Truncated));
    QCOMPARE(head.raw.size(), 40);
    QCOMPARE(head.headers.size(), 1);
    QCOMPARE(head.name(head.headers.first()), QByteArrayView("A"));
}

void tst_HttpHeadParser::lookupIsCaseInsensitive()
{
    const HttpHead head = HttpHeadParser::parse(
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nSet-Cookie: a\r\nset-cookie: b\r\n\r\n", Kind::Response, 100, false);
    QCOMPARE(head.value("Content-Length"), QByteArrayView("5"));
    const auto cookies = head.values("SET-COOKIE");
    QCOMPARE(cookies.size(), 2);
    QCOMPARE(cookies[0], QByteArrayView("a"));
    QCOMPARE(cookies[1], QByteArrayView("b"));
    QVERIFY(head.value("Transfer-Encoding").isEmpty());
}

void tst_HttpHeadParser::resetParsesTheNextHead()
{
    const QByteArray input("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    HttpHeadParser parser(Kind::Request);
    qsizetype used = 0;
    QCOMPARE(parser.feed(input, &used), Status::Complete);
    QCOMPARE(parser.takeHead().target(), QByteArrayView("/a"));
    parser.reset();
    qsizetype second = 0;
    QCOMPARE(parser.feed(QByteArrayView(input).sliced(used), &second), Status::Complete);
    QCOMPARE(used + second, input.size());
    const HttpHead head = parser.takeHead();
    QCOMPARE(head.target(), QByteArrayView("/b"));
    QCOMPARE(head.raw, QByteArray("GET /b HTTP/1.1\r\nHost: h\r\n\r\n"));
}

void tst_HttpHeadParser::hostOfRequest_data()
{
    QTest::addColumn<QByteArray>("head");
    QTest::addColumn<QByteArray>("host");
    QTest::newRow("Host header") << QByteArray("GET /x HTTP/1.1\r\nHost: shop.test\r\n\r\n") << QByteArray("shop.test");
    QTest::newRow("absolute form wins")
        << QByteArray("GET http://u:p@a.test:81/x?y HTTP/1.1\r\nHost: other\r\n\r\n") << QByteArray("a.test:81");
    QTest::newRow("no path") << QByteArray("GET http://a.test HTTP/1.1\r\n\r\n") << QByteArray("a.test");
    QTest::newRow("CONNECT") << QByteArray("CONNECT b.test:443 HTTP/1.1\r\n\r\n") << QByteArray("b.test:443");
    QTest::newRow("none") << QByteArray("GET / HTTP/1.0\r\n\r\n") << QByteArray();
}

void tst_HttpHeadParser::hostOfRequest()
{
    QFETCH(QByteArray, head);
    QFETCH(QByteArray, host);
    QCOMPARE(HttpHeadParser::parse(head, HttpHead::Kind::Request, 100, false).host(), QByteArrayView(host));
}

QTEST_APPLESS_MAIN(tst_HttpHeadParser)
#include "tst_httpheadparser.moc"
