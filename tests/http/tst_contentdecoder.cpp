#include "contentdecoder.h"

#include <QRandomGenerator>
#include <QTest>

#include <brotli/encode.h>
#include <zlib.h>

// Bodies are compressed here with the real libraries, then decoded as the
// window shows them: whole, cut short (the capture keeps a prefix), chained,
// corrupt, and bombs.
class tst_ContentDecoder : public QObject
{
    Q_OBJECT

private slots:
    void decodes_data();
    void decodes();
    void prefixDecodesAsFarAsItGoes();
    void chainIsUndoneRightToLeft();
    void multiMemberGzip();
    void identityAndNoCodingPassThrough();
    void unknownCodingIsNamed();
    void corruptDataIsReported();
    void bombIsCapped();

private:
    static QByteArray zlibCompress(const QByteArray &data, int windowBits);
    static QByteArray brotliCompress(const QByteArray &data);
    static QByteArray sampleText();
};

QByteArray tst_ContentDecoder::zlibCompress(const QByteArray &data, int windowBits)
{
    z_stream stream{};
    deflateInit2(&stream, 6, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
    QByteArray out(qsizetype(deflateBound(&stream, uLong(data.size()))) + 32, Qt::Uninitialized);
    stream.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
    stream.avail_in = uInt(data.size());
    stream.next_out = reinterpret_cast<Bytef *>(out.data());
    stream.avail_out = uInt(out.size());
    const int status = deflate(&stream, Z_FINISH);
    out.resize(qsizetype(stream.total_out));
    deflateEnd(&stream);
    return status == Z_STREAM_END ? out : QByteArray();
}

QByteArray tst_ContentDecoder::brotliCompress(const QByteArray &data)
{
    size_t size = BrotliEncoderMaxCompressedSize(size_t(data.size()));
    QByteArray out(qsizetype(size), Qt::Uninitialized);
    if (!BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, size_t(data.size()),
                               reinterpret_cast<const uint8_t *>(data.constData()), &size,
                               reinterpret_cast<uint8_t *>(out.data())))
        return QByteArray();
    out.resize(qsizetype(size));
    return out;
}

QByteArray tst_ContentDecoder::sampleText()
{
    QByteArray text;
    QRandomGenerator random(7);
    for (int i = 0; i < 4000; ++i)
        text += "{\"id\":" + QByteArray::number(random.bounded(100000)) + ",\"name\":\"item\"},\n";
    return text;
}

void tst_ContentDecoder::decodes_data()
{
    QTest::addColumn<QByteArray>("coding");
    QTest::addColumn<QByteArray>("encoded");
    const QByteArray text = sampleText();
    QTest::newRow("gzip") << QByteArray("gzip") << zlibCompress(text, 16 + MAX_WBITS);
    QTest::newRow("x-gzip, upper case") << QByteArray("X-GZIP") << zlibCompress(text, 16 + MAX_WBITS);
    QTest::newRow("deflate (zlib)") << QByteArray("deflate") << zlibCompress(text, MAX_WBITS);
    QTest::newRow("deflate (raw)") << QByteArray("deflate") << zlibCompress(text, -MAX_WBITS);
    QTest::newRow("br") << QByteArray("br") << brotliCompress(text);
}

void tst_ContentDecoder::decodes()
{
    QFETCH(QByteArray, coding);
    QFETCH(QByteArray, encoded);
    QVERIFY(!encoded.isEmpty());
    const ContentDecoder::Result result = ContentDecoder::decode(encoded, coding);
    QCOMPARE(result.error, QString());
    QVERIFY(result.decoded);
    QVERIFY(result.complete);
    QVERIFY(!result.capped);
    QCOMPARE(result.bytes, sampleText());
}

void tst_ContentDecoder::prefixDecodesAsFarAsItGoes()
{
    const QByteArray text = sampleText();
    for (const QByteArray &coding : {QByteArray("gzip"), QByteArray("br")}) {
        const QByteArray encoded = coding == "br" ? brotliCompress(text) : zlibCompress(text, 16 + MAX_WBITS);
        const ContentDecoder::Result result = ContentDecoder::decode(QByteArrayView(encoded).first(encoded.size() / 2), coding);
        QCOMPARE(result.error, QString());
        QVERIFY(!result.complete);
        QVERIFY2(result.bytes.size() > text.size() / 4, coding.constData());
        QVERIFY(text.startsWith(result.bytes));
    }
}

void tst_ContentDecoder::chainIsUndoneRightToLeft()
{
    const QByteArray text = sampleText();
    // Content-Encoding: deflate, br means deflate was applied first.
    const QByteArray encoded = brotliCompress(zlibCompress(text, MAX_WBITS));
    const ContentDecoder::Result result = ContentDecoder::decode(encoded, " deflate ,br ");
    QCOMPARE(result.error, QString());
    QVERIFY(result.complete);
    QCOMPARE(result.bytes, text);
}

void tst_ContentDecoder::multiMemberGzip()
{
    const QByteArray encoded = zlibCompress("first ", 16 + MAX_WBITS) + zlibCompress("second", 16 + MAX_WBITS);
    const ContentDecoder::Result result = ContentDecoder::decode(encoded, "gzip");
    QVERIFY(result.complete);
    QCOMPARE(result.bytes, QByteArray("first second"));
}

void tst_ContentDecoder::identityAndNoCodingPassThrough()
{
    for (const char *coding : {"", "identity", "Identity, identity"}) {
        const ContentDecoder::Result result = ContentDecoder::decode("plain\0text", coding);
        QVERIFY(!result.decoded);
        QVERIFY(result.complete);
        QCOMPARE(result.bytes, QByteArray("plain"));
    }
}

void tst_ContentDecoder::unknownCodingIsNamed()
{
    const ContentDecoder::Result result = ContentDecoder::decode("abc", "compress");
    QCOMPARE(result.error, QStringLiteral("unsupported content coding \"compress\""));
    QCOMPARE(result.bytes, QByteArray("abc"));
}

void tst_ContentDecoder::corruptDataIsReported()
{
    QByteArray encoded = zlibCompress(sampleText(), 16 + MAX_WBITS);
    for (qsizetype i = 40; i < 80; ++i)
        encoded[i] = char(encoded[i] ^ 0x5a);
    const ContentDecoder::Result gzip = ContentDecoder::decode(encoded, "gzip");
    QVERIFY2(gzip.error.startsWith(QStringLiteral("corrupt gzip data")), qPrintable(gzip.error));
    QVERIFY(!gzip.complete);

    const ContentDecoder::Result br = ContentDecoder::decode("\xff\xff\xff\xff not brotli", "br");
    QVERIFY2(br.error.startsWith(QStringLiteral("corrupt brotli data")), qPrintable(br.error));
}

void tst_ContentDecoder::bombIsCapped()
{
    const QByteArray zeros(64 * 1024 * 1024, '\0');
    for (const QByteArray &coding : {QByteArray("gzip"), QByteArray("br")}) {
        const QByteArray encoded = coding == "br" ? brotliCompress(zeros) : zlibCompress(zeros, 16 + MAX_WBITS);
        QVERIFY(encoded.size() < 128 * 1024);
        const ContentDecoder::Result result = ContentDecoder::decode(encoded, coding, 1024 * 1024);
        QVERIFY(result.capped);
        QVERIFY(!result.complete);
        QCOMPARE(result.bytes.size(), 1024 * 1024);
    }
}

QTEST_APPLESS_MAIN(tst_ContentDecoder)
#include "tst_contentdecoder.moc"
