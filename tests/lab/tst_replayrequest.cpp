// A request proxymon writes itself (resend, edit and resend) under the
// HTTP proxy's discipline: its framing is proxymon's own, so that every
// reference server reads it as one request, and fields servers would
// read differently are refused with a reason.

#include "referencereaders.h"
#include "replayrequest.h"

#include <QTest>

namespace {

ReplayRequest make(QList<QPair<QByteArray, QByteArray>> headers, QByteArray body)
{
    ReplayRequest request;
    request.method = "POST";
    request.url = "http://shop.test:8080/cart?x=1";
    request.headers = std::move(headers);
    request.body = std::move(body);
    return request;
}

} // namespace

class tst_ReplayRequest : public QObject
{
    Q_OBJECT

private slots:
    void framedByProxymon_data();
    void framedByProxymon();
    void problems_data();
    void problems();
};

void tst_ReplayRequest::framedByProxymon_data()
{
    QTest::addColumn<ReplayRequest>("request");
    QTest::addColumn<QByteArray>("expected");

    QTest::newRow("a length that lies is set to the body's")
        << make({{"Host", "shop.test:8080"}, {"Content-Length", "99"}, {"X", "y"}}, "hello")
        << QByteArray("POST /cart?x=1 HTTP/1.1\r\nHost: shop.test:8080\r\nContent-Length: 5\r\nX: y\r\n\r\nhello");
    QTest::newRow("two lengths become one")
        << make({{"Content-Length", "5"}, {"Content-Length", "6"}}, "hello")
        << QByteArray("POST /cart?x=1 HTTP/1.1\r\nContent-Length: 5\r\nHost: shop.test:8080\r\n\r\nhello");
    QTest::newRow("chunked wins over a length, one chunk")
        << make({{"Content-Length", "3"}, {"Transfer-Encoding", "gzip, Chunked"}}, "hello")
        << QByteArray("POST /cart?x=1 HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nHost: shop.test:8080\r\n\r\n"
                      "5\r\nhello\r\n0\r\n\r\n");
    QTest::newRow("a body without framing gets a length")
        << make({{"Host", "h"}}, "abc") << QByteArray("POST /cart?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    QTest::newRow("no body, no length") << make({{"Host", "h"}}, QByteArray())
                                        << QByteArray("POST /cart?x=1 HTTP/1.1\r\nHost: h\r\n\r\n");
}

void tst_ReplayRequest::framedByProxymon()
{
    QFETCH(ReplayRequest, request);
    QFETCH(QByteArray, expected);
    QCOMPARE(request.problem(), QString());
    const QByteArray bytes = request.bytes(false);
    QCOMPARE(bytes, expected);
    // Every reference server reads one request, followed by another.
    const QByteArray twice = bytes + "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    QCOMPARE(ReferenceReaders::disagreement(twice), QString());
    const ReferenceReaders::Reading reading = ReferenceReaders::read(twice, ReferenceReaders::all().first());
    QCOMPARE(reading.requests.size(), 2);
    QCOMPARE(reading.requests[1].target, QByteArray("/next"));
}

void tst_ReplayRequest::problems_data()
{
    QTest::addColumn<ReplayRequest>("request");
    QTest::addColumn<QString>("why");

    QTest::newRow("CR LF in a value") << make({{"X", "a\r\nTransfer-Encoding: chunked"}}, "hello")
                                      << QStringLiteral("control character");
    QTest::newRow("bare CR in a value") << make({{"X", "a\rb"}}, {}) << QStringLiteral("control character");
    QTest::newRow("NUL in a value") << make({{"X", QByteArray("a\0b", 3)}}, {}) << QStringLiteral("control character");
    QTest::newRow("space in a name") << make({{"Content-Length ", "5"}}, "hello") << QStringLiteral("not one word");
    QTest::newRow("Connection names the length")
        << make({{"Connection", "keep-alive, Content-Length"}}, "hello") << QStringLiteral("may not name content-length");
    QTest::newRow("chunked not last") << make({{"Transfer-Encoding", "chunked, gzip"}}, "hello")
                                      << QStringLiteral("end in chunked");
    ReplayRequest spaced = make({}, {});
    spaced.url = "http://shop.test/a b";
    QTest::newRow("space in the URL") << spaced << QStringLiteral("spaces");
    ReplayRequest old = make({{"Transfer-Encoding", "chunked"}}, "x");
    old.version = "HTTP/1.0";
    QTest::newRow("HTTP/1.0 chunked") << old << QStringLiteral("HTTP/1.0");
    ReplayRequest method = make({}, {});
    method.method = "GET /x";
    QTest::newRow("two-word method") << method << QStringLiteral("one word");
}

void tst_ReplayRequest::problems()
{
    QFETCH(ReplayRequest, request);
    QFETCH(QString, why);
    QVERIFY2(request.problem().contains(why, Qt::CaseInsensitive), qPrintable(request.problem()));
    // And nothing is planned to be sent.
    QString error;
    ReplayRequest::Listener listener;
    listener.host = QStringLiteral("127.0.0.1");
    listener.port = 1;
    QVERIFY(request.plan(listener, &error).request.isEmpty());
    QCOMPARE(error, request.problem());
}

QTEST_APPLESS_MAIN(tst_ReplayRequest)
#include "tst_replayrequest.moc"
