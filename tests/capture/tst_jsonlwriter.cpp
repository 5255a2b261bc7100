#include "httpheadparser.h"
#include "jsonlwriter.h"

#include <QBuffer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTest>

class tst_JsonlWriter : public QObject
{
    Q_OBJECT

private slots:
    void httpProxyConnectionOpensWithoutUpstream();
    void openedAndClosedInOneBatch();
    void openedThenClosedLater();
    void errorTextIsEscaped();
    void rawConnectionShowsFirstBytes();
    void filterKeepsMatchesInOrder();

private:
    static QList<QJsonObject> lines(const QByteArray &bytes);
    static ConnectionRecord record(quint64 id, bool closed);
};

QList<QJsonObject> tst_JsonlWriter::lines(const QByteArray &bytes)
{
    QList<QJsonObject> result;
    for (const QByteArray &line : bytes.split('\n')) {
        if (line.isEmpty())
            continue;
        QJsonParseError error{};
        const QJsonDocument document = QJsonDocument::fromJson(line, &error);
        if (error.error != QJsonParseError::NoError)
            qWarning() << "not JSON:" << line << error.errorString();
        result.append(document.object());
    }
    return result;
}

ConnectionRecord tst_JsonlWriter::record(quint64 id, bool closed)
{
    ConnectionRecord r;
    r.id = id;
    r.client = QStringLiteral("127.0.0.1:5000");
    r.upstream = QStringLiteral("example.org:80");
    r.openedMs = 1'700'000'000'000;
    r.state = closed ? ConnectionRecord::State::Closed : ConnectionRecord::State::Open;
    if (closed) {
        r.closedMs = r.openedMs + 1234;
        r.bytesUp = 10;
        r.bytesDown = 20;
        r.closeReason = ConnectionRecord::CloseReason::UpstreamFin;
        r.upstreamAddress = QStringLiteral("93.184.216.34:80");
    }
    return r;
}

void tst_JsonlWriter::openedAndClosedInOneBatch()
{
    QBuffer buffer;
    buffer.open(QIODevice::WriteOnly);
    JsonlWriter writer(&buffer);
    writer.writeBatch({record(7, true)}, {});
    QVERIFY(buffer.data().startsWith("{\"event\":\"connection_opened\",\"id\":7,"));
    const QList<QJsonObject> events = lines(buffer.data());
    QCOMPARE(events.size(), 2);
    QCOMPARE(events[0].value("event").toString(), QStringLiteral("connection_opened"));
    QCOMPARE(events[0].value("client").toString(), QStringLiteral("127.0.0.1:5000"));
    QCOMPARE(events[0].value("upstream").toString(), QStringLiteral("example.org:80"));
    QCOMPARE(events[0].value("time").toString(), QStringLiteral("2023-11-14T22:13:20.000Z"));
    QCOMPARE(events[1].value("event").toString(), QStringLiteral("connection_closed"));
    QCOMPARE(events[1].value("id").toInt(), 7);
    QCOMPARE(events[1].value("bytes_up").toInt(), 10);
    QCOMPARE(events[1].value("bytes_down").toInt(), 20);
    QCOMPARE(events[1].value("close").toString(), QStringLiteral("upstream_fin"));
    QCOMPARE(events[1].value("duration_ms").toInt(), 1234);
    QVERIFY(!events[1].contains("error"));
    QVERIFY(!events[1].contains("upstream_tls"));

    // A TLS upstream names its protocol and cipher.
    QBuffer tls;
    tls.open(QIODevice::WriteOnly);
    JsonlWriter tlsWriter(&tls);
    ConnectionRecord secured = record(8, true);
    secured.upstreamTlsToWrite().version = QStringLiteral("TLSv1.3");
    secured.upstreamTlsToWrite().cipher = QStringLiteral("TLS_AES_256_GCM_SHA384");
    secured.upstreamTlsToWrite().serverName = QStringLiteral("api.example.com");
    secured.upstreamTlsToWrite().handshakeMs = 12;
    secured.upstreamTlsToWrite().verification = QStringLiteral("ok");
    secured.decryption = ConnectionRecord::Decryption::Passthrough;
    secured.decryptionNote = QStringLiteral("api.example.com is on the passthrough list");
    tlsWriter.writeBatch({secured}, {});
    const QJsonObject closed = lines(tls.data())[1];
    const QJsonObject upstreamTls = closed.value("upstream_tls").toObject();
    QCOMPARE(upstreamTls.value("version").toString(), QStringLiteral("TLSv1.3"));
    QCOMPARE(upstreamTls.value("cipher").toString(), QStringLiteral("TLS_AES_256_GCM_SHA384"));
    QCOMPARE(upstreamTls.value("sni").toString(), QStringLiteral("api.example.com"));
    QCOMPARE(upstreamTls.value("handshake_ms").toInt(), 12);
    QCOMPARE(upstreamTls.value("verification").toString(), QStringLiteral("ok"));
    QCOMPARE(closed.value("decryption").toString(), QStringLiteral("passthrough"));
    QCOMPARE(closed.value("decryption_note").toString(), QStringLiteral("api.example.com is on the passthrough list"));
    QVERIFY(!closed.contains("client_tls"));
}

void tst_JsonlWriter::httpProxyConnectionOpensWithoutUpstream()
{
    // An HTTP proxy's connection has no upstream when it opens, even when
    // its first request named one before the batch went out; the closed
    // event names the last one.
    QBuffer buffer;
    buffer.open(QIODevice::WriteOnly);
    JsonlWriter writer(&buffer);
    ConnectionRecord r = record(8, true);
    r.httpProxy = true;
    writer.writeBatch({r}, {});
    const QList<QJsonObject> events = lines(buffer.data());
    QCOMPARE(events.size(), 2);
    QVERIFY(events[0].value("upstream").isNull());
    QCOMPARE(events[1].value("upstream").toString(), QStringLiteral("example.org:80"));
}

void tst_JsonlWriter::openedThenClosedLater()
{
    QBuffer buffer;
    buffer.open(QIODevice::WriteOnly);
    JsonlWriter writer(&buffer);
    writer.writeBatch({record(1, false)}, {});
    writer.writeBatch({record(1, false)}, {}); // a byte-count update: no event
    QCOMPARE(lines(buffer.data()).size(), 1);
    writer.writeBatch({record(1, true)}, {});
    const QList<QJsonObject> events = lines(buffer.data());
    QCOMPARE(events.size(), 2);
    QCOMPARE(events[1].value("event").toString(), QStringLiteral("connection_closed"));
}

void tst_JsonlWriter::errorTextIsEscaped()
{
    QBuffer buffer;
    buffer.open(QIODevice::WriteOnly);
    JsonlWriter writer(&buffer);
    ConnectionRecord r = record(3, true);
    r.closeReason = ConnectionRecord::CloseReason::Error;
    r.error = QStringLiteral("a \"quoted\"\nline\\ with \x01 control");
    writer.writeBatch({r}, {});
    const QList<QJsonObject> events = lines(buffer.data());
    QCOMPARE(events.size(), 2);
    QCOMPARE(events[1].value("close").toString(), QStringLiteral("error"));
    QCOMPARE(events[1].value("error").toString(), r.error);
}

void tst_JsonlWriter::rawConnectionShowsFirstBytes()
{
    QBuffer buffer;
    buffer.open(QIODevice::WriteOnly);
    JsonlWriter writer(&buffer);
    ConnectionRecord r = record(4, true);
    r.raw = true;
    r.clientPrefix = QByteArray("SSH-2.0\r\n\x00\xff", 11);
    r.upstreamPrefix = "hi";
    writer.writeBatch({r}, {});
    const QList<QJsonObject> events = lines(buffer.data());
    QCOMPARE(events.size(), 2);
    QCOMPARE(events[1].value("raw").toBool(), true);
    QCOMPARE(events[1].value("client_first_bytes").toString(), QStringLiteral("SSH-2.0\r\n\u0000\\xff"));
    QCOMPARE(events[1].value("upstream_first_bytes").toString(), QStringLiteral("hi"));
}

void tst_JsonlWriter::filterKeepsMatchesInOrder()
{
    QBuffer buffer;
    buffer.open(QIODevice::WriteOnly);
    JsonlWriter writer(&buffer);
    writer.setFilter(CaptureFilter::parse(QStringLiteral("status:404")));
    const auto exchange = [](quint64 connection, const QByteArray &statusLine) {
        HttpExchange x;
        x.connectionId = connection;
        x.sequence = 1;
        x.request = HttpHeadParser::parse("GET / HTTP/1.1\r\n\r\n", HttpHead::Kind::Request, 100, false);
        x.response = HttpHeadParser::parse(statusLine + "\r\n\r\n", HttpHead::Kind::Response, 100, false);
        return x;
    };
    // Both open in one batch; only connection 2 answers 404.
    writer.writeBatch({record(1, false), record(2, false)},
                      {exchange(1, "HTTP/1.1 200 OK"), exchange(2, "HTTP/1.1 404 Not Found")});
    writer.writeBatch({record(1, true), record(2, true)}, {});
    QList<QJsonObject> events = lines(buffer.data());
    QCOMPARE(events.size(), 3);
    QCOMPARE(events[0].value("event").toString(), QStringLiteral("connection_opened"));
    QCOMPARE(events[0].value("id").toInt(), 2);
    QCOMPARE(events[1].value("event").toString(), QStringLiteral("exchange"));
    QCOMPARE(events[1].value("connection").toInt(), 2);
    QCOMPARE(events[2].value("event").toString(), QStringLiteral("connection_closed"));
    QCOMPARE(events[2].value("id").toInt(), 2);

    // A connection that matches only once it ends (a reset) gets both events then.
    QBuffer second;
    second.open(QIODevice::WriteOnly);
    JsonlWriter resets(&second);
    resets.setFilter(CaptureFilter::parse(QStringLiteral("state:reset")));
    resets.writeBatch({record(3, false)}, {});
    ConnectionRecord reset = record(3, true);
    reset.closeReason = ConnectionRecord::CloseReason::ClientReset;
    resets.writeBatch({reset}, {});
    events = lines(second.data());
    QCOMPARE(events.size(), 2);
    QCOMPARE(events[0].value("event").toString(), QStringLiteral("connection_opened"));
    QCOMPARE(events[1].value("close").toString(), QStringLiteral("client_reset"));
}

QTEST_APPLESS_MAIN(tst_JsonlWriter)
#include "tst_jsonlwriter.moc"
