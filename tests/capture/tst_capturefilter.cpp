#include "capturefilter.h"
#include "httpheadparser.h"

#include <QTest>

class tst_CaptureFilter : public QObject
{
    Q_OBJECT

private slots:
    void terms_data();
    void terms();
    void errorsAreExplained();
    void tlsUpstream();
    void decryption();
    void smugglingCoversEveryDesyncFlag();

private:
    static ConnectionRecord sampleRecord();
    static HttpExchange sampleExchange();
};

ConnectionRecord tst_CaptureFilter::sampleRecord()
{
    ConnectionRecord r;
    r.id = 17;
    r.client = QStringLiteral("127.0.0.1:50123");
    r.upstream = QStringLiteral("backend.test:8080");
    r.state = ConnectionRecord::State::Closed;
    r.closeReason = ConnectionRecord::CloseReason::UpstreamReset;
    return r;
}

HttpExchange tst_CaptureFilter::sampleExchange()
{
    HttpExchange x;
    x.connectionId = 17;
    x.request = HttpHeadParser::parse("POST /api/items?page=2 HTTP/1.1\r\nHost: shop.example\r\n\r\n",
                                      HttpHead::Kind::Request, 100, false);
    x.response = HttpHeadParser::parse("HTTP/1.1 404 Not Found\r\n\r\n", HttpHead::Kind::Response, 100, false);
    x.flags = HttpHead::AmbiguousFraming;
    return x;
}

void tst_CaptureFilter::terms_data()
{
    // Whether the connection matches on its record alone, and whether the
    // exchange matches (judged with the record).
    QTest::addColumn<QString>("filter");
    QTest::addColumn<bool>("connection");
    QTest::addColumn<bool>("exchange");
    QTest::newRow("empty") << "" << true << true;
    QTest::newRow("word in client") << "50123" << true << true;
    QTest::newRow("word in target, any case") << "ITEMS" << false << true;
    QTest::newRow("connection id") << "17" << true << true;
    QTest::newRow("two words, both needed") << "items backend" << false << true;
    QTest::newRow("two words, one missing") << "items nowhere" << false << false;
    QTest::newRow("host header") << "host:shop" << false << true;
    QTest::newRow("host: upstream") << "host:backend" << true << true;
    QTest::newRow("status exact") << "status:404" << false << true;
    QTest::newRow("status class") << "status:4xx" << false << true;
    QTest::newRow("status other class") << "status:5xx" << false << false;
    QTest::newRow("status at least") << "status:>=400" << false << true;
    QTest::newRow("status at most") << "status:<=299" << false << false;
    QTest::newRow("method any case") << "method:post" << false << true;
    QTest::newRow("method other") << "method:GET" << false << false;
    QTest::newRow("client") << "client:127.0.0.1" << true << true;
    QTest::newRow("state reset") << "state:reset" << true << true;
    QTest::newRow("state by close reason") << "state:upstream_reset" << true << true;
    QTest::newRow("state live") << "state:live" << false << false;
    QTest::newRow("is:smuggling") << "is:smuggling" << false << true;
    QTest::newRow("is:flagged") << "is:flagged" << false << true;
    QTest::newRow("is:malformed") << "is:malformed" << false << false;
    QTest::newRow("is:error") << "is:error" << true << true;
    QTest::newRow("is:tls, plain upstream") << "is:tls" << false << false;
    QTest::newRow("negated word") << "-items" << true << false;
    QTest::newRow("negated field") << "-status:404" << true << false;
    QTest::newRow("quoted words") << "\"Not Found\"" << false << true;
    QTest::newRow("unknown field is a word") << "colour:red" << false << false;
}

void tst_CaptureFilter::terms()
{
    QFETCH(QString, filter);
    QFETCH(bool, connection);
    QFETCH(bool, exchange);
    const CaptureFilter parsed = CaptureFilter::parse(filter);
    const ConnectionRecord record = sampleRecord();
    QCOMPARE(parsed.matchesConnection(record), connection);
    QCOMPARE(parsed.matchesExchange(sampleExchange(), &record), exchange);
}

void tst_CaptureFilter::smugglingCoversEveryDesyncFlag()
{
    const ConnectionRecord record = sampleRecord();
    HttpExchange exchange = sampleExchange();
    const CaptureFilter smuggling = CaptureFilter::parse(QStringLiteral("is:smuggling"));
    const CaptureFilter flagged = CaptureFilter::parse(QStringLiteral("is:flagged"));
    for (const quint32 flag : {HttpHead::AmbiguousFraming, HttpHead::ControlCharacter, HttpHead::LaxChunkFraming}) {
        exchange.flags = flag;
        QVERIFY(smuggling.matchesExchange(exchange, &record));
        QVERIFY(flagged.matchesExchange(exchange, &record));
    }
    exchange.flags = HttpHead::BareLineFeed | HttpHead::MalformedLine;
    QVERIFY(!smuggling.matchesExchange(exchange, &record));
}

void tst_CaptureFilter::tlsUpstream()
{
    ConnectionRecord record = sampleRecord();
    record.upstreamTlsToWrite().version = QStringLiteral("TLSv1.3");
    record.upstreamTlsToWrite().cipher = QStringLiteral("TLS_AES_128_GCM_SHA256");
    QVERIFY(CaptureFilter::parse(QStringLiteral("is:tls")).matchesConnection(record));
    QVERIFY(CaptureFilter::parse(QStringLiteral("is:tls")).matchesExchange(sampleExchange(), &record));
    QVERIFY(!CaptureFilter::parse(QStringLiteral("-is:tls")).matchesConnection(record));
    QVERIFY(!CaptureFilter::parse(QStringLiteral("is:decrypted")).matchesConnection(record));
}

void tst_CaptureFilter::decryption()
{
    using Decryption = ConnectionRecord::Decryption;
    const QStringList words{QStringLiteral("is:decrypted"), QStringLiteral("is:passthrough"), QStringLiteral("is:rejected")};
    const QList<Decryption> states{Decryption::Decrypted, Decryption::Passthrough, Decryption::Rejected};
    for (int i = 0; i < states.size(); ++i) {
        ConnectionRecord record = sampleRecord();
        record.decryption = states[i];
        for (int j = 0; j < words.size(); ++j)
            QCOMPARE(CaptureFilter::parse(words[j]).matchesConnection(record), i == j);
        // Every connection whose client spoke TLS is one.
        QVERIFY(CaptureFilter::parse(QStringLiteral("is:tls")).matchesConnection(record));
    }
    // An exchange that crossed TLS is one too, whatever its record says.
    HttpExchange exchange = sampleExchange();
    exchange.secure = true;
    const ConnectionRecord plain = sampleRecord();
    QVERIFY(CaptureFilter::parse(QStringLiteral("is:tls")).matchesExchange(exchange, &plain));
    QVERIFY(!CaptureFilter::parse(QStringLiteral("is:tls")).matchesConnection(plain));
}

void tst_CaptureFilter::errorsAreExplained()
{
    QString error;
    CaptureFilter::parse(QStringLiteral("status:abc"), &error);
    QCOMPARE(error, QStringLiteral("status takes 404, 4xx, >=400 or <=299, not \"abc\""));
    CaptureFilter::parse(QStringLiteral("colour:red"), &error);
    QCOMPARE(error, QStringLiteral("unknown field \"colour\" (taken as a word)"));
    CaptureFilter::parse(QStringLiteral("host:a 127.0.0.1:80"), &error);
    QCOMPARE(error, QString());
}

QTEST_APPLESS_MAIN(tst_CaptureFilter)
#include "tst_capturefilter.moc"
