#include "certificateauthority.h"
#include "decryptionsetup.h"
#include "tlsinterception.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

// What the proxy's decryption is set up with across starts: the authority
// loaded once and again when replaced on disk, a clear word when it cannot
// be had, and a start refused only for what the user named.
class tst_DecryptionSetup : public QObject
{
    Q_OBJECT
private slots:
    void decryptsWithTheAuthorityInItsDirectory();
    void relaysUnreadWhenNoAuthorityCanBeHad();
    void refusesAStartWithAnUnusableCaFile();
    void reloadsAnAuthorityReplacedOnDisk();
    void offAtStartOffersNoAuthority();
};

namespace {

DecryptionSetup::Settings settingsIn(const QString &directory)
{
    DecryptionSetup::Settings settings;
    settings.caDirectory = directory;
    return settings;
}

} // namespace

void tst_DecryptionSetup::decryptsWithTheAuthorityInItsDirectory()
{
    QTemporaryDir directory;
    QVERIFY(directory.isValid());
    DecryptionSetup setup;
    QString error;
    QVERIFY2(setup.start(settingsIn(directory.path()), &error), qPrintable(error));
    QVERIFY(setup.takeNotice().isEmpty());
    QVERIFY(setup.authority());
    QCOMPARE(setup.authorityCertificatePath(), directory.filePath(QLatin1String(CertificateAuthority::CertificateFile)));
    QVERIFY(QFile::exists(setup.authorityCertificatePath()));
    QString unavailable;
    QVERIFY(setup.interception()->server(&unavailable));
    QVERIFY(setup.interception()->enabled());
}

void tst_DecryptionSetup::relaysUnreadWhenNoAuthorityCanBeHad()
{
    // /proc takes no new directory, not even root's.
    DecryptionSetup setup;
    QString error;
    QVERIFY2(setup.start(settingsIn(QStringLiteral("/proc/proxymon-test-ca")), &error), qPrintable(error));
    const QString notice = setup.takeNotice();
    QVERIFY2(notice.startsWith(QStringLiteral("TLS is relayed without decryption: ")), qPrintable(notice));
    QVERIFY(setup.takeNotice().isEmpty()); // said once
    QVERIFY(!setup.authority());
    QString unavailable;
    QVERIFY(!setup.interception()->server(&unavailable));
    QVERIFY(!unavailable.isEmpty());
}

void tst_DecryptionSetup::refusesAStartWithAnUnusableCaFile()
{
    QTemporaryDir directory;
    DecryptionSetup::Settings settings = settingsIn(directory.path());
    settings.upstreamCaFile = directory.filePath(QStringLiteral("missing.pem"));
    DecryptionSetup setup;
    QString error;
    QVERIFY(!setup.start(settings, &error));
    QVERIFY2(error.startsWith(QStringLiteral("upstream TLS: ")), qPrintable(error));
}

void tst_DecryptionSetup::reloadsAnAuthorityReplacedOnDisk()
{
    QTemporaryDir directory;
    DecryptionSetup setup;
    QString error;
    QVERIFY(setup.start(settingsIn(directory.path()), &error));
    const QByteArray before = setup.authority()->certificatePem();
    QVERIFY(CertificateAuthority::replace(directory.path(), &error));
    // The next start, or decryption turned on again, takes the new one.
    setup.setEnabled(true, true);
    QVERIFY(setup.authority()->certificatePem() != before);
    QFile file(setup.authorityCertificatePath());
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(setup.authority()->certificatePem(), file.readAll());
}

void tst_DecryptionSetup::offAtStartOffersNoAuthority()
{
    QTemporaryDir directory;
    DecryptionSetup::Settings settings = settingsIn(directory.path());
    settings.decrypt = false;
    DecryptionSetup setup;
    QString error;
    QVERIFY(setup.start(settings, &error));
    QVERIFY(!setup.authority());
    QVERIFY(!setup.interception()->enabled());
    QString unavailable;
    QVERIFY(!setup.interception()->server(&unavailable));
    QCOMPARE(unavailable, QStringLiteral("decryption is off"));
    // Turned on while running: the authority is loaded then.
    setup.setEnabled(true, true);
    QVERIFY(setup.authority());
    QVERIFY(setup.interception()->enabled());
}

QTEST_GUILESS_MAIN(tst_DecryptionSetup)
#include "tst_decryptionsetup.moc"
