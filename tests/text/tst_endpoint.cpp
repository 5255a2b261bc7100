#include "endpoint.h"

#include <QTest>

class tst_Endpoint : public QObject
{
    Q_OBJECT

private slots:
    void parse_data();
    void parse();
    void formatRoundTrips();
};

void tst_Endpoint::parse_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("portOnly");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::addColumn<QString>("errorPart");

    QTest::newRow("ipv4") << "127.0.0.1:8080" << false << true << "127.0.0.1" << 8080 << "";
    QTest::newRow("name") << "example.org:80" << false << true << "example.org" << 80 << "";
    QTest::newRow("spaces trimmed") << "  localhost:1 " << false << true << "localhost" << 1 << "";
    QTest::newRow("ipv6") << "[::1]:443" << false << true << "::1" << 443 << "";
    QTest::newRow("port zero") << "127.0.0.1:0" << false << true << "127.0.0.1" << 0 << "";
    QTest::newRow("port only allowed") << "9000" << true << true << "" << 9000 << "";
    QTest::newRow("port only refused") << "9000" << false << false << "" << 0 << "HOST:PORT";
    QTest::newRow("no port") << "example.org" << false << false << "" << 0 << "HOST:PORT";
    QTest::newRow("port too big") << "a:65536" << false << false << "" << 0 << "not a port";
    QTest::newRow("port not a number") << "a:http" << false << false << "" << 0 << "not a port";
    QTest::newRow("empty host") << ":80" << false << false << "" << 0 << "host is missing";
    QTest::newRow("bare ipv6") << "::1:80" << false << false << "" << 0 << "brackets";
    QTest::newRow("bracket not ipv6") << "[foo]:80" << false << false << "" << 0 << "not an IPv6";
    QTest::newRow("url") << "http://x:80" << false << false << "" << 0 << "brackets";
    QTest::newRow("space in host") << "a b:80" << false << false << "" << 0 << "not a valid host";
}

void tst_Endpoint::parse()
{
    QFETCH(QString, text);
    QFETCH(bool, portOnly);
    QFETCH(bool, valid);
    QFETCH(QString, host);
    QFETCH(int, port);
    QFETCH(QString, errorPart);

    Endpoint endpoint;
    QString error;
    QCOMPARE(Endpoint::parse(text, &endpoint, &error, portOnly), valid);
    if (valid) {
        QCOMPARE(endpoint.host, host);
        QCOMPARE(int(endpoint.port), port);
    } else {
        QVERIFY2(error.contains(errorPart), qPrintable(error));
    }
}

void tst_Endpoint::formatRoundTrips()
{
    QCOMPARE(Endpoint::format(QStringLiteral("::1"), 80), QStringLiteral("[::1]:80"));
    QCOMPARE(Endpoint::format(QStringLiteral("10.0.0.1"), 1), QStringLiteral("10.0.0.1:1"));
    Endpoint endpoint;
    QString error;
    QVERIFY(Endpoint::parse(Endpoint::format(QStringLiteral("fe80::1"), 8080), &endpoint, &error));
    QCOMPARE(endpoint.host, QStringLiteral("fe80::1"));
    QCOMPARE(Endpoint::format(QStringLiteral("example.com"), 0), QStringLiteral("example.com:0"));
    QCOMPARE(Endpoint::format(QStringLiteral("h\u00e9te"), 65535), QStringLiteral("h\u00e9te:65535"));
    QCOMPARE(Endpoint::format(QLatin1String("192.168.10.200"), 8080), QStringLiteral("192.168.10.200:8080"));
    QCOMPARE(Endpoint::format(QLatin1String("::ffff:1.2.3.4"), 443), QStringLiteral("[::ffff:1.2.3.4]:443"));
    QCOMPARE(Endpoint::format(QString(), 10), QStringLiteral(":10"));
}

QTEST_APPLESS_MAIN(tst_Endpoint)
#include "tst_endpoint.moc"
