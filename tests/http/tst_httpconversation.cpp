#include "httpconversation.h"

#include <QTest>

#include <cstring>

class tst_HttpConversation : public QObject
{
    Q_OBJECT

private slots:
    void pipelinedExchangesPairInOrder();
    void splitAnywhereGivesTheSameExchanges();
    void bodyPrefixIsBounded();
    void passedBodyBytesCountAndKeepTheirPrefix();
    void connectionEndsMidResponse();
    void closeDelimitedResponse();
    void labRequestIsFlagged();
    void upgradeBecomesTunnel();
    void nonHttpClientIsRaw();
    void httpKeepsNoRawPrefix();

private:
    static HttpConversation::Limits limits();
    static QString summary(const QList<HttpExchange> &exchanges);
};

namespace {

const QByteArray Requests("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
                          "HEAD /2 HTTP/1.1\r\nHost: h\r\n\r\n"
                          "POST /3 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello");
const QByteArray Responses("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
                           "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
                           "HTTP/1.1 100 Continue\r\n\r\n"
                           "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");

} // namespace

HttpConversation::Limits tst_HttpConversation::limits()
{
    return HttpConversation::Limits();
}

QString tst_HttpConversation::summary(const QList<HttpExchange> &exchanges)
{
    QStringList parts;
    for (const HttpExchange &x : exchanges) {
        parts.append(QStringLiteral("#%1 %2 %3 -> %4%5 req=%6[%7] resp=%8[%9]%10%11")
                         .arg(x.sequence)
                         .arg(QString::fromLatin1(x.request.method()), QString::fromLatin1(x.request.target()))
                         .arg(x.response.status)
                         .arg(x.interim.isEmpty() ? QString() : QStringLiteral(" (+%1 interim)").arg(x.interim.size()))
                         .arg(x.requestBodyBytes)
                         .arg(QString::fromLatin1(x.requestBody))
                         .arg(x.responseBodyBytes)
                         .arg(QString::fromLatin1(x.responseBody))
                         .arg(x.complete ? QString() : QStringLiteral(" incomplete"))
                         .arg(x.tunnel ? QStringLiteral(" tunnel") : QString()));
    }
    return parts.join(u'\n');
}

void tst_HttpConversation::pipelinedExchangesPairInOrder()
{
    HttpConversation conversation(7, limits());
    conversation.clientBytes(Requests, 1000);
    QVERIFY(conversation.takeFinished().isEmpty());
    conversation.upstreamBytes(Responses, 1010);
    const QList<HttpExchange> exchanges = conversation.takeFinished();
    QCOMPARE(summary(exchanges),
             QStringLiteral("#1 GET /1 -> 200 req=0[] resp=2[hi]\n"
                            "#2 HEAD /2 -> 200 req=0[] resp=0[]\n"
                            "#3 POST /3 -> 201 (+1 interim) req=5[hello] resp=2[ok]"));
    for (const HttpExchange &x : exchanges) {
        QCOMPARE(x.connectionId, quint64(7));
        QCOMPARE(x.requestStartMs, 1000);
        QCOMPARE(x.requestCompleteMs, 1000);
        QCOMPARE(x.responseStartMs, 1010);
        QCOMPARE(x.responseCompleteMs, 1010);
    }
    QCOMPARE(exchanges[2].interim.first().status, 100);
}

void tst_HttpConversation::splitAnywhereGivesTheSameExchanges()
{
    HttpConversation whole(1, limits());
    whole.clientBytes(Requests, 1);
    whole.upstreamBytes(Responses, 2);
    whole.finish(3);
    const QString expected = summary(whole.takeFinished());
    for (qsizetype split = 1; split < Responses.size(); split += 3) {
        HttpConversation conversation(1, limits());
        const qsizetype requestSplit = split % Requests.size();
        conversation.clientBytes(QByteArrayView(Requests).first(requestSplit), 1);
        conversation.clientBytes(QByteArrayView(Requests).sliced(requestSplit), 1);
        conversation.upstreamBytes(QByteArrayView(Responses).first(split), 2);
        conversation.upstreamBytes(QByteArrayView(Responses).sliced(split), 2);
        conversation.finish(3);
        QCOMPARE(summary(conversation.takeFinished()), expected);
    }
}

void tst_HttpConversation::bodyPrefixIsBounded()
{
    HttpConversation::Limits small = limits();
    small.bodyPrefixBytes = 4;
    HttpConversation conversation(1, small);
    conversation.clientBytes("GET / HTTP/1.1\r\n\r\n", 1);
    conversation.upstreamBytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcdefghij", 2);
    const QList<HttpExchange> exchanges = conversation.takeFinished();
    QCOMPARE(exchanges.size(), 1);
    QCOMPARE(exchanges[0].responseBody, QByteArray("abcd"));
    QCOMPARE(exchanges[0].responseBodyBytes, quint64(10));
}

void tst_HttpConversation::passedBodyBytesCountAndKeepTheirPrefix()
{
    // The relay's splice path: the kept part of a body is written straight
    // into the room the conversation offers, the rest passes unseen; the
    // exchange must come out as if every byte had been shown.
    HttpConversation::Limits small = limits();
    small.bodyPrefixBytes = 4;
    HttpConversation conversation(1, small);
    conversation.clientBytes("GET / HTTP/1.1\r\n\r\n", 1);
    QCOMPARE(conversation.bodyWindow(false).ahead, quint64(0)); // the head must be shown
    conversation.upstreamBytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\na", 2);

    HttpConversation::BodyWindow window = conversation.bodyWindow(false);
    QCOMPARE(window.ahead, quint64(9));
    QCOMPARE(window.roomBytes, qsizetype(3));
    // Room that goes unfilled is given back.
    conversation.bodyPassed(false, 0, 3);
    window = conversation.bodyWindow(false);
    QCOMPARE(window.roomBytes, qsizetype(3));
    std::memcpy(window.room, "bc", 2);
    conversation.bodyPassed(false, 2, 3);
    window = conversation.bodyWindow(false);
    QCOMPARE(window.ahead, quint64(7));
    QCOMPARE(window.roomBytes, qsizetype(1));
    window.room[0] = 'd';
    conversation.bodyPassed(false, 1, 4);
    window = conversation.bodyWindow(false);
    QCOMPARE(window.ahead, quint64(6));
    QCOMPARE(window.roomBytes, qsizetype(0)); // past the prefix: nothing to copy
    QVERIFY(!conversation.hasFinished());
    conversation.bodyPassed(false, 6, 5);

    const QList<HttpExchange> exchanges = conversation.takeFinished();
    QCOMPARE(exchanges.size(), 1);
    QCOMPARE(exchanges[0].responseBody, QByteArray("abcd"));
    QCOMPARE(exchanges[0].responseBodyBytes, quint64(10));
    QVERIFY(exchanges[0].complete);
    QCOMPARE(exchanges[0].responseCompleteMs, 5);
    QCOMPARE(conversation.bodyWindow(false).ahead, quint64(0));
}

void tst_HttpConversation::connectionEndsMidResponse()
{
    HttpConversation conversation(1, limits());
    conversation.clientBytes("GET /big HTTP/1.1\r\n\r\nGET /never HTTP/1.1\r\n\r\n", 1);
    conversation.upstreamBytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 2);
    QVERIFY(conversation.takeFinished().isEmpty());
    conversation.finish(5);
    const QList<HttpExchange> exchanges = conversation.takeFinished();
    QCOMPARE(summary(exchanges), QStringLiteral("#1 GET /big -> 200 req=0[] resp=3[abc] incomplete\n"
                                                "#2 GET /never -> 0 req=0[] resp=0[] incomplete"));
    QVERIFY(exchanges[0].flags & HttpHead::BodyShort);
    QCOMPARE(exchanges[0].responseCompleteMs, 5);
}

void tst_HttpConversation::closeDelimitedResponse()
{
    HttpConversation conversation(1, limits());
    conversation.clientBytes("GET / HTTP/1.0\r\n\r\n", 1);
    conversation.upstreamBytes("HTTP/1.0 200 OK\r\n\r\nuntil ", 2);
    conversation.upstreamBytes("the end", 3);
    conversation.finish(4);
    QCOMPARE(summary(conversation.takeFinished()), QStringLiteral("#1 GET / -> 200 req=0[] resp=13[until the end]"));
}

void tst_HttpConversation::labRequestIsFlagged()
{
    HttpConversation conversation(1, limits());
    conversation.clientBytes("GET / HTTP/1.1\nwww.google.com\n\n", 1);
    conversation.upstreamBytes("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 2);
    const QList<HttpExchange> exchanges = conversation.takeFinished();
    QCOMPARE(exchanges.size(), 1);
    QVERIFY(exchanges[0].flags & HttpHead::MalformedLine);
    QVERIFY(exchanges[0].flags & HttpHead::BareLineFeed);
    QCOMPARE(exchanges[0].request.name(exchanges[0].request.headers.first()), QByteArrayView("www.google.com"));
}

void tst_HttpConversation::upgradeBecomesTunnel()
{
    HttpConversation conversation(1, limits());
    conversation.clientBytes("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 1);
    conversation.upstreamBytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi", 2);
    conversation.clientBytes("\x81\x82maskGET / HTTP/1.1\r\n\r\n", 3);
    conversation.finish(4);
    const QList<HttpExchange> exchanges = conversation.takeFinished();
    QCOMPARE(exchanges.size(), 1);
    QVERIFY(exchanges[0].tunnel);
    QCOMPARE(exchanges[0].response.status, 101);
}

void tst_HttpConversation::nonHttpClientIsRaw()
{
    HttpConversation::Limits small = limits();
    small.rawPrefixBytes = 8;
    HttpConversation conversation(1, small);
    conversation.clientBytes(QByteArray("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11), 1);
    conversation.upstreamBytes(QByteArray("\x16\x03\x03\x00\x7a", 5), 2);
    conversation.finish(3);
    QVERIFY(conversation.isRaw());
    QVERIFY(conversation.takeFinished().isEmpty());
    QCOMPARE(conversation.rawClientPrefix(), QByteArray("\x16\x03\x01\x00\xa5\x01\x00\x00", 8));
    QCOMPARE(conversation.rawUpstreamPrefix(), QByteArray("\x16\x03\x03\x00\x7a", 5));
}

void tst_HttpConversation::httpKeepsNoRawPrefix()
{
    HttpConversation conversation(1, limits());
    conversation.clientBytes("GET / HT", 1);
    QCOMPARE(conversation.rawClientPrefix(), QByteArray("GET / HT"));
    conversation.clientBytes("TP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 2);
    conversation.upstreamBytes("HTTP/1.1 204 No Content\r\n\r\n", 3);
    QVERIFY(!conversation.isRaw());
    QVERIFY(conversation.rawClientPrefix().isEmpty());
    QVERIFY(conversation.rawUpstreamPrefix().isEmpty());
    QCOMPARE(conversation.takeFinished().size(), 1);
}

QTEST_APPLESS_MAIN(tst_HttpConversation)
#include "tst_httpconversation.moc"
