#include "certificateauthority.h"

#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

using KeyType = LeafCertificate::KeyType;

// proxymon's certificate authority in a scratch directory: made once, kept,
// never silently replaced, and signing leaves that clients accept.
class tst_CertificateAuthority : public QObject
{
    Q_OBJECT
private slots:
    void madeOnceThenReused();
    void brokenFilesAreReportedNotReplaced();
    void replaceMakesANewOne();
    void leafVerifiesForItsNames();
    void leafShape();
    void rsaLeafForClientsWithoutEcdsa();
    void opensslVerifyAcceptsTheLeaf();
    void leavesAreCachedLeastRecentlyUsedFirst();

private:
    static bool verifies(const CertificateAuthority &authority, const LeafCertificate &leaf);
};

bool tst_CertificateAuthority::verifies(const CertificateAuthority &authority, const LeafCertificate &leaf)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, authority.certificate());
    X509_STORE_CTX *context = X509_STORE_CTX_new();
    X509_STORE_CTX_init(context, store, leaf.certificate(), nullptr);
    X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_SERVER);
    const bool ok = X509_verify_cert(context) == 1;
    if (!ok)
        qWarning() << X509_verify_cert_error_string(X509_STORE_CTX_get_error(context));
    X509_STORE_CTX_free(context);
    X509_STORE_free(store);
    return ok;
}

void tst_CertificateAuthority::madeOnceThenReused()
{
    QTemporaryDir directory;
    QString error;
    QByteArray first;
    {
        const auto authority = CertificateAuthority::open(directory.path() + QStringLiteral("/ca"), &error);
        QVERIFY2(authority, qPrintable(error));
        first = authority->certificatePem();
        QVERIFY(first.startsWith("-----BEGIN CERTIFICATE-----"));
        QCOMPARE(authority->certificatePath(), directory.path() + QStringLiteral("/ca/proxymon-ca.pem"));
        QVERIFY(!authority->certificateDer().isEmpty());
    }
    struct stat key{};
    QCOMPARE(::stat(QFile::encodeName(directory.path() + QStringLiteral("/ca/proxymon-ca.key")).constData(), &key), 0);
    QCOMPARE(key.st_mode & 0777, mode_t(0600));
    const auto again = CertificateAuthority::open(directory.path() + QStringLiteral("/ca"), &error);
    QVERIFY2(again, qPrintable(error));
    QCOMPARE(again->certificatePem(), first);
}

void tst_CertificateAuthority::brokenFilesAreReportedNotReplaced()
{
    QTemporaryDir directory;
    QString error;
    QVERIFY(CertificateAuthority::open(directory.path(), &error));
    const QString keyPath = directory.path() + QStringLiteral("/proxymon-ca.key");
    const QString certificatePath = directory.path() + QStringLiteral("/proxymon-ca.pem");
    QFile certificate(certificatePath);
    QVERIFY(certificate.open(QIODevice::ReadOnly));
    const QByteArray original = certificate.readAll();
    certificate.close();

    // A key that is not the certificate's.
    QTemporaryDir other;
    QVERIFY(CertificateAuthority::open(other.path(), &error));
    QVERIFY(QFile::remove(keyPath));
    QVERIFY(QFile::copy(other.path() + QStringLiteral("/proxymon-ca.key"), keyPath));
    QVERIFY(!CertificateAuthority::open(directory.path(), &error));
    QVERIFY2(error.contains(QStringLiteral("does not belong")), qPrintable(error));

    // A missing key.
    QVERIFY(QFile::remove(keyPath));
    QVERIFY(!CertificateAuthority::open(directory.path(), &error));
    QVERIFY2(error.contains(QStringLiteral("missing")), qPrintable(error));

    // Garbage.
    QFile garbage(keyPath);
    QVERIFY(garbage.open(QIODevice::WriteOnly));
    garbage.write("not a key\n");
    garbage.close();
    QVERIFY(!CertificateAuthority::open(directory.path(), &error));
    QVERIFY2(error.contains(QStringLiteral("cannot read the key")), qPrintable(error));

    // None of it replaced the certificate users may trust.
    QVERIFY(certificate.open(QIODevice::ReadOnly));
    QCOMPARE(certificate.readAll(), original);
}

void tst_CertificateAuthority::replaceMakesANewOne()
{
    QTemporaryDir directory;
    QString error;
    const auto first = CertificateAuthority::open(directory.path(), &error);
    QVERIFY(first);
    const auto second = CertificateAuthority::replace(directory.path(), &error);
    QVERIFY2(second, qPrintable(error));
    QVERIFY(second->certificatePem() != first->certificatePem());
    const auto reopened = CertificateAuthority::open(directory.path(), &error);
    QVERIFY(reopened);
    QCOMPARE(reopened->certificatePem(), second->certificatePem());
}

void tst_CertificateAuthority::leafVerifiesForItsNames()
{
    QTemporaryDir directory;
    QString error;
    const auto authority = CertificateAuthority::open(directory.path(), &error);
    QVERIFY(authority);
    const auto named = authority->leaf({QStringLiteral("api.example.test")}, KeyType::Ecdsa);
    QVERIFY(named);
    QVERIFY(verifies(*authority, *named));
    QCOMPARE(X509_check_host(named->certificate(), "api.example.test", 0, 0, nullptr), 1);
    QCOMPARE(X509_check_host(named->certificate(), "other.example.test", 0, 0, nullptr), 0);

    const auto address = authority->leaf({QStringLiteral("127.0.0.1")}, KeyType::Ecdsa);
    QVERIFY(verifies(*authority, *address));
    QCOMPARE(X509_check_ip_asc(address->certificate(), "127.0.0.1", 0), 1);
    const auto v6 = authority->leaf({QStringLiteral("::1")}, KeyType::Ecdsa);
    QCOMPARE(X509_check_ip_asc(v6->certificate(), "::1", 0), 1);

    // A name with bytes that would mean something in OpenSSL's
    // configuration syntax adds no other name.
    const auto odd = authority->leaf({QStringLiteral("a.test,DNS:evil.test")}, KeyType::Ecdsa);
    QVERIFY(odd);
    QCOMPARE(X509_check_host(odd->certificate(), "evil.test", 0, 0, nullptr), 0);
}

void tst_CertificateAuthority::leafShape()
{
    QTemporaryDir directory;
    QString error;
    const auto authority = CertificateAuthority::open(directory.path(), &error);
    const auto first = authority->leaf({QStringLiteral("a.test")}, KeyType::Ecdsa);
    const auto second = authority->leaf({QStringLiteral("b.test")}, KeyType::Ecdsa);
    QCOMPARE(EVP_PKEY_get_base_id(first->key()), EVP_PKEY_EC);
    QCOMPARE(EVP_PKEY_get_bits(first->key()), 256);
    // About 30 days, from an hour ago (clocks differ).
    int days = 0;
    int seconds = 0;
    QVERIFY(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(first->certificate()),
                           X509_get0_notAfter(first->certificate())));
    QVERIFY2(days == 30, qPrintable(QString::number(days)));
    QVERIFY(X509_cmp_current_time(X509_get0_notBefore(first->certificate())) < 0);
    // Random serials.
    QVERIFY(ASN1_INTEGER_cmp(X509_get0_serialNumber(first->certificate()), X509_get0_serialNumber(second->certificate())) != 0);
    QCOMPARE(X509_check_ca(first->certificate()), 0);
    QVERIFY(X509_get_extended_key_usage(first->certificate()) & XKU_SSL_SERVER);
    QVERIFY(first->pem().startsWith("-----BEGIN CERTIFICATE-----"));
}

void tst_CertificateAuthority::rsaLeafForClientsWithoutEcdsa()
{
    QTemporaryDir directory;
    QString error;
    const auto authority = CertificateAuthority::open(directory.path(), &error);
    const auto leaf = authority->leaf({QStringLiteral("old.example.test")}, KeyType::Rsa);
    QVERIFY(leaf);
    QCOMPARE(EVP_PKEY_get_base_id(leaf->key()), EVP_PKEY_RSA);
    QCOMPARE(EVP_PKEY_get_bits(leaf->key()), 2048);
    QVERIFY(verifies(*authority, *leaf));
    // Cached apart from the ECDSA one for the same name.
    const auto ecdsa = authority->leaf({QStringLiteral("old.example.test")}, KeyType::Ecdsa);
    QVERIFY(ecdsa != leaf);
}

void tst_CertificateAuthority::opensslVerifyAcceptsTheLeaf()
{
    const QString openssl = QStandardPaths::findExecutable(QStringLiteral("openssl"));
    if (openssl.isEmpty())
        QSKIP("the openssl command is not installed");
    QTemporaryDir directory;
    QString error;
    const auto authority = CertificateAuthority::open(directory.path(), &error);
    const auto leaf = authority->leaf({QStringLiteral("www.example.test"), QStringLiteral("127.0.0.1")}, KeyType::Ecdsa);
    const QString leafPath = directory.path() + QStringLiteral("/leaf.pem");
    QFile file(leafPath);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(leaf->pem());
    file.close();
    QProcess verify;
    verify.start(openssl, {QStringLiteral("verify"), QStringLiteral("-purpose"), QStringLiteral("sslserver"),
                           QStringLiteral("-verify_hostname"), QStringLiteral("www.example.test"),
                           QStringLiteral("-CAfile"), authority->certificatePath(), leafPath});
    QVERIFY(verify.waitForFinished(10'000));
    const QByteArray output = verify.readAllStandardOutput() + verify.readAllStandardError();
    QVERIFY2(verify.exitCode() == 0 && output.contains(": OK"), output.constData());
}

void tst_CertificateAuthority::leavesAreCachedLeastRecentlyUsedFirst()
{
    QTemporaryDir directory;
    QString error;
    const auto authority = CertificateAuthority::open(directory.path(), &error, 2);
    const auto a = authority->leaf({QStringLiteral("a.test")}, KeyType::Ecdsa);
    const auto b = authority->leaf({QStringLiteral("b.test")}, KeyType::Ecdsa);
    QCOMPARE(authority->leaf({QStringLiteral("a.test")}, KeyType::Ecdsa), a); // a is now the most recent
    const auto c = authority->leaf({QStringLiteral("c.test")}, KeyType::Ecdsa); // b goes
    QCOMPARE(authority->cachedLeaves(), size_t(2));
    QCOMPARE(authority->leaf({QStringLiteral("a.test")}, KeyType::Ecdsa), a);
    QVERIFY(authority->leaf({QStringLiteral("b.test")}, KeyType::Ecdsa) != b);
    QVERIFY(c);
}

QTEST_GUILESS_MAIN(tst_CertificateAuthority)
#include "tst_certificateauthority.moc"
