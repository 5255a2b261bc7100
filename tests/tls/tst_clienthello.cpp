#include "clienthello.h"

#include <QTest>

#include <openssl/ssl.h>

// ClientHellos as real clients send them (made by OpenSSL's client, the
// one curl uses on Debian), read whole, split and bent.
class tst_ClientHello : public QObject
{
    Q_OBJECT
private slots:
    void readsNameProtocolsAndVersion();
    void tls12Client();
    void rsaOnlyClient();
    void noServerName();
    void everyPrefixNeedsMore();
    void splitOverRecords();
    void otherBytesAreNotAHello_data();
    void otherBytesAreNotAHello();
    void lyingLengthsAreRefused();

private:
    struct Options
    {
        const char *serverName = "Example.Test";
        QList<QByteArray> alpn = {"h2", "http/1.1"};
        int maxVersion = TLS1_3_VERSION;
        const char *signatureAlgorithms = nullptr;
    };
    static QByteArray hello(const Options &options);
};

QByteArray tst_ClientHello::hello(const Options &options)
{
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(context, options.maxVersion);
    if (options.signatureAlgorithms)
        SSL_CTX_set1_sigalgs_list(context, options.signatureAlgorithms);
    SSL *ssl = SSL_new(context);
    BIO *in = BIO_new(BIO_s_mem());
    BIO *out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, in, out);
    if (options.serverName)
        SSL_set_tlsext_host_name(ssl, options.serverName);
    QByteArray protocols;
    for (const QByteArray &protocol : options.alpn)
        protocols += char(protocol.size()) + protocol;
    if (!protocols.isEmpty())
        SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char *>(protocols.constData()), unsigned(protocols.size()));
    SSL_connect(ssl); // writes the hello, then wants the server's answer
    char *data = nullptr;
    const long size = BIO_get_mem_data(out, &data);
    const QByteArray bytes(data, qsizetype(size));
    SSL_free(ssl);
    SSL_CTX_free(context);
    return bytes;
}

void tst_ClientHello::readsNameProtocolsAndVersion()
{
    const QByteArray bytes = hello({});
    ClientHello parsed;
    QCOMPARE(ClientHello::parse(bytes, &parsed), ClientHello::Status::Complete);
    QCOMPARE(parsed.serverName, QStringLiteral("example.test"));
    QCOMPARE(parsed.alpn, (QList<QByteArray>{"h2", "http/1.1"}));
    QCOMPARE(parsed.maxVersion, quint16(0x0304));
    QVERIFY(parsed.offersEcdsa);
    QCOMPARE(parsed.bytes, bytes.size());
    // Bytes after the hello (none from a real client, but a caller may
    // hold more) are not counted.
    QCOMPARE(ClientHello::parse(bytes + "\x17\x03\x03", &parsed), ClientHello::Status::Complete);
    QCOMPARE(parsed.bytes, bytes.size());
}

void tst_ClientHello::tls12Client()
{
    Options options;
    options.maxVersion = TLS1_2_VERSION;
    options.alpn = {"http/1.1"};
    ClientHello parsed;
    QCOMPARE(ClientHello::parse(hello(options), &parsed), ClientHello::Status::Complete);
    QCOMPARE(parsed.maxVersion, quint16(0x0303));
    QCOMPARE(parsed.alpn, QList<QByteArray>{"http/1.1"});
    QVERIFY(parsed.offersEcdsa);
}

void tst_ClientHello::rsaOnlyClient()
{
    Options options;
    options.signatureAlgorithms = "RSA+SHA256:RSA-PSS+SHA256:RSA+SHA384";
    ClientHello parsed;
    QCOMPARE(ClientHello::parse(hello(options), &parsed), ClientHello::Status::Complete);
    QVERIFY(!parsed.offersEcdsa);
}

void tst_ClientHello::noServerName()
{
    Options options;
    options.serverName = nullptr;
    options.alpn = {};
    ClientHello parsed;
    QCOMPARE(ClientHello::parse(hello(options), &parsed), ClientHello::Status::Complete);
    QVERIFY(parsed.serverName.isEmpty());
    QVERIFY(parsed.alpn.isEmpty());
}

void tst_ClientHello::everyPrefixNeedsMore()
{
    const QByteArray bytes = hello({});
    for (qsizetype size = 0; size < bytes.size(); ++size) {
        ClientHello parsed;
        QVERIFY2(ClientHello::parse(QByteArrayView(bytes).first(size), &parsed) == ClientHello::Status::NeedMore,
                 qPrintable(QString::number(size)));
    }
}

void tst_ClientHello::splitOverRecords()
{
    // The same handshake message in records of 100 bytes, as a client may
    // send it.
    const QByteArray bytes = hello({});
    const QByteArray message = bytes.mid(5);
    QByteArray records;
    for (qsizetype at = 0; at < message.size(); at += 100) {
        const QByteArray part = message.mid(at, 100);
        records += QByteArray("\x16\x03\x01", 3) + char(part.size() >> 8) + char(part.size() & 0xff) + part;
    }
    ClientHello parsed;
    QCOMPARE(ClientHello::parse(records, &parsed), ClientHello::Status::Complete);
    QCOMPARE(parsed.serverName, QStringLiteral("example.test"));
    QCOMPARE(parsed.bytes, records.size());
    for (qsizetype size = 0; size < records.size(); size += 7)
        QCOMPARE(ClientHello::parse(QByteArrayView(records).first(size), &parsed), ClientHello::Status::NeedMore);
}

void tst_ClientHello::otherBytesAreNotAHello_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::newRow("http") << QByteArray("GET / HTTP/1.1\r\n");
    QTest::newRow("one byte of http") << QByteArray("G");
    QTest::newRow("ssh") << QByteArray("SSH-2.0-OpenSSH_9.2\r\n");
    QTest::newRow("application data record") << QByteArray("\x17\x03\x03\x00\x05hello", 10);
    QTest::newRow("not version 3") << QByteArray("\x16\x02", 2);
    QTest::newRow("empty record") << QByteArray("\x16\x03\x01\x00\x00", 5);
    QTest::newRow("oversized record") << QByteArray("\x16\x03\x01\x48\x01", 5);
    QTest::newRow("server hello") << QByteArray("\x16\x03\x03\x00\x04\x02\x00\x00\x00", 9);
}

void tst_ClientHello::otherBytesAreNotAHello()
{
    QFETCH(QByteArray, bytes);
    ClientHello parsed;
    QCOMPARE(ClientHello::parse(bytes, &parsed), ClientHello::Status::NotClientHello);
}

void tst_ClientHello::lyingLengthsAreRefused()
{
    // Every length field that grows past its container makes the hello
    // unreadable (relayed as is), never an overrun: bump each byte in turn
    // and the parser must still answer, and never claim more bytes than
    // it was given.
    const QByteArray bytes = hello({});
    int refused = 0;
    for (qsizetype at = 5; at < bytes.size(); ++at) {
        QByteArray bent = bytes;
        bent[at] = char(quint8(bent[at]) + 0x40);
        ClientHello parsed;
        const ClientHello::Status status = ClientHello::parse(bent, &parsed);
        if (status == ClientHello::Status::Complete)
            QVERIFY(parsed.bytes <= bent.size());
        if (status == ClientHello::Status::NotClientHello)
            ++refused;
    }
    QVERIFY(refused > 0);
}

QTEST_GUILESS_MAIN(tst_ClientHello)
#include "tst_clienthello.moc"
