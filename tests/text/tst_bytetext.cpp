#include "bytetext.h"

#include <QTest>

class tst_ByteText : public QObject
{
    Q_OBJECT

private slots:
    void readable_data();
    void readable();
    void hexDump();
};

void tst_ByteText::readable_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("text");
    QTest::newRow("CRLF reads as a line break") << QByteArray("a\r\nb") << QStringLiteral("a\nb");
    QTest::newRow("bare LF kept") << QByteArray("a\nb") << QStringLiteral("a\nb");
    QTest::newRow("CR alone shown") << QByteArray("a\rb") << QStringLiteral("a\\x0db");
    QTest::newRow("NUL and DEL shown") << QByteArray("a\0b\x7f", 4) << QStringLiteral("a\\x00b\\x7f");
    QTest::newRow("tab kept") << QByteArray("a\tb") << QStringLiteral("a\tb");
    QTest::newRow("UTF-8 kept") << QByteArray("caf\xc3\xa9 \xe2\x82\xac") << QStringLiteral("café €");
    QTest::newRow("invalid UTF-8 shown") << QByteArray("\xff\xc3(") << QStringLiteral("\\xff\\xc3(");
    QTest::newRow("overlong form shown") << QByteArray("\xc0\xaf") << QStringLiteral("\\xc0\\xaf");
    QTest::newRow("surrogate shown") << QByteArray("\xed\xa0\x80") << QStringLiteral("\\xed\\xa0\\x80");
    QTest::newRow("cut sequence at the end") << QByteArray("ok\xe2\x82") << QStringLiteral("ok\\xe2\\x82");
}

void tst_ByteText::readable()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, text);
    QCOMPARE(ByteText::readable(bytes), text);
}

void tst_ByteText::hexDump()
{
    const QByteArray bytes("GET / HTTP/1.1\r\n\x00\xff", 18);
    QCOMPARE(ByteText::hexDump(bytes),
             QStringLiteral("00000000  47 45 54 20 2f 20 48 54  54 50 2f 31 2e 31 0d 0a  |GET / HTTP/1.1..|\n"
                            "00000010  00 ff                                             |..|\n"));
    QCOMPARE(ByteText::hexDump(QByteArray()), QString());
}

QTEST_APPLESS_MAIN(tst_ByteText)
#include "tst_bytetext.moc"
