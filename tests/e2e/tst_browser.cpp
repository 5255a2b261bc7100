// A real browser through proxymon: headless Chromium, with proxymon's CA
// in a fresh NSS database (certutil) or without it, as an HTTP proxy's
// client, loading a multi-resource HTTPS page from a local nginx. Kept on
// loopback as the developers' guide says: every name goes direct (and
// fails inside Chromium), pages are addressed by IP literal, and
// 127.0.0.1 goes through the proxy.
#include "certificateauthority.h"
#include "loopback.h"
#include "nginxserver.h"
#include "runningproxy.h"
#include "tlsinterception.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <openssl/pem.h>

using namespace Loopback;
using Decryption = ConnectionRecord::Decryption;

namespace {

bool writeFile(const QString &path, const QByteArray &data)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(data) == data.size();
}

// An uncompressed 24-bit bitmap of random pixels, about 200 KB: an image
// the browser reads to its end to decode it. (Bytes that are no image were
// cancelled as soon as the browser sniffed them, a race with how much had
// arrived by then.)
QByteArray bitmap(int width, int height, quint32 seed)
{
    const int row = (width * 3 + 3) & ~3;
    const QByteArray pixels = randomBytes(qsizetype(row) * height, seed);
    QByteArray header(54, '\0');
    const auto put = [&header](int at, quint32 value, int bytes) {
        for (int i = 0; i < bytes; ++i)
            header[at + i] = char((value >> (8 * i)) & 0xff);
    };
    header[0] = 'B';
    header[1] = 'M';
    put(2, quint32(header.size() + pixels.size()), 4); // file size
    put(10, 54, 4);                                      // where the pixels start
    put(14, 40, 4);                                      // BITMAPINFOHEADER
    put(18, quint32(width), 4);
    put(22, quint32(height), 4);
    put(26, 1, 2);                                       // planes
    put(28, 24, 2);                                      // bits per pixel
    put(34, quint32(pixels.size()), 4);
    return header + pixels;
}

const QByteArray Picture = bitmap(100, 666, 9);

} // namespace

class tst_Browser : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void pageLoadsDecrypted();
    void plainPageThroughTheHttpProxy();
    void untrustedBrowserIsRejectedThenPassedThrough();

private:
    // Runs Chromium on url with its own profile, and HOME where its NSS
    // database is; returns the DOM it dumped.
    QByteArray browse(quint16 proxyPort, const QString &home, const QString &url);
    QString nssHome(bool trustProxymon);
    ProxyConfig proxyConfig() const;

    QTemporaryDir m_directory;
    std::unique_ptr<CertificateAuthority> m_sites; // the site's certificate
    NginxServer m_nginx;
    quint16 m_sitePort = 0;  // TLS
    quint16 m_plainPort = 0; // the same site over plain HTTP
    int m_profiles = 0;
};

void tst_Browser::initTestCase()
{
    for (const char *tool : {"chromium", "nginx", "certutil"})
        QVERIFY2(!QStandardPaths::findExecutable(QString::fromLatin1(tool), {QStringLiteral("/usr/bin"), QStringLiteral("/usr/sbin")}).isEmpty(),
                 qPrintable(QStringLiteral("%1 is not installed (scripts/test.sh installs it)").arg(QString::fromLatin1(tool))));
    QString error;
    m_sites = CertificateAuthority::open(m_directory.filePath(QStringLiteral("sites")), &error);
    QVERIFY2(m_sites, qPrintable(error));

    // The site: a page with a stylesheet, a script that writes into it, and
    // an image, served over TLS for 127.0.0.1 by nginx as configured in
    // production (sendfile on).
    const QString site = m_directory.filePath(QStringLiteral("site"));
    QVERIFY(QDir().mkpath(site));
    QVERIFY(writeFile(site + QStringLiteral("/index.html"),
                      "<!DOCTYPE html><html><head><link rel=\"stylesheet\" href=\"/style.css\">"
                      "<script src=\"/app.js\" defer></script></head><body><p id=\"status\">waiting</p>"
                      "<img src=\"/picture.bmp\" alt=\"picture\"></body></html>\n"));
    QVERIFY(writeFile(site + QStringLiteral("/style.css"), "body { color: #123456; }\n"));
    QVERIFY(writeFile(site + QStringLiteral("/app.js"),
                      "fetch('/data.json').then(r => r.json()).then(d => {"
                      " document.getElementById('status').textContent = 'script ran: ' + d.word; });\n"));
    QVERIFY(writeFile(site + QStringLiteral("/data.json"), "{\"word\":\"decrypted\"}\n"));
    QVERIFY(writeFile(site + QStringLiteral("/picture.bmp"), Picture));
    const auto leaf = m_sites->leaf({QStringLiteral("127.0.0.1")}, LeafCertificate::KeyType::Ecdsa);
    QVERIFY(writeFile(m_directory.filePath(QStringLiteral("site.pem")), leaf->pem()));
    {
        BIO *out = BIO_new(BIO_s_mem());
        PEM_write_bio_PrivateKey(out, leaf->key(), nullptr, nullptr, 0, nullptr, nullptr);
        char *data = nullptr;
        const long size = BIO_get_mem_data(out, &data);
        QVERIFY(writeFile(m_directory.filePath(QStringLiteral("site.key")), QByteArray(data, qsizetype(size))));
        BIO_free(out);
    }
    m_sitePort = unusedPort(); // nginx binds them a moment later
    m_plainPort = unusedPort();
    const QString servers = QStringLiteral(
        "  types { text/html html; text/css css; application/javascript js; application/json json;\n"
        "          application/octet-stream bin; }\n"
        "  server { listen 127.0.0.1:%1 ssl; ssl_certificate %3/site.pem; ssl_certificate_key %3/site.key;\n"
        "           root %3/site; }\n"
        "  server { listen 127.0.0.1:%2; root %3/site; }\n")
        .arg(m_sitePort).arg(m_plainPort).arg(m_directory.path());
    QVERIFY2(m_nginx.start(servers, m_sitePort, &error), qPrintable(error));
}

ProxyConfig tst_Browser::proxyConfig() const
{
    ProxyConfig config;
    config.listenAddress = QHostAddress::LocalHost;
    config.mode = ProxyConfig::Mode::HttpProxy;
    config.upstreamCaFile = m_sites->certificatePath();
    config.caDirectory = m_directory.filePath(QStringLiteral("proxymon"));
    config.stopGraceMs = 100;
    return config;
}

QString tst_Browser::nssHome(bool trustProxymon)
{
    // Chromium reads $HOME/.pki/nssdb; a fresh one per run.
    const QString home = m_directory.filePath(QStringLiteral("home%1").arg(++m_profiles));
    const QString database = QStringLiteral("sql:") + home + QStringLiteral("/.pki/nssdb");
    if (!QDir().mkpath(home + QStringLiteral("/.pki/nssdb")))
        return QString();
    if (QProcess::execute(QStringLiteral("certutil"), {QStringLiteral("-d"), database, QStringLiteral("-N"),
                                                      QStringLiteral("--empty-password")}) != 0)
        return QString();
    if (trustProxymon
        && QProcess::execute(QStringLiteral("certutil"),
                             {QStringLiteral("-d"), database, QStringLiteral("-A"), QStringLiteral("-t"), QStringLiteral("C,,"),
                              QStringLiteral("-n"), QStringLiteral("proxymon"), QStringLiteral("-i"),
                              m_directory.filePath(QStringLiteral("proxymon/proxymon-ca.pem"))}) != 0)
        return QString();
    return home;
}

QByteArray tst_Browser::browse(quint16 proxyPort, const QString &home, const QString &url)
{
    QStringList direct{QStringLiteral("<-loopback>")};
    for (char letter = 'a'; letter <= 'z'; ++letter)
        direct.append(QStringLiteral("*%1*").arg(QLatin1Char(letter)));
    const QStringList arguments{
        QStringLiteral("--headless"), QStringLiteral("--no-sandbox"), QStringLiteral("--disable-gpu"),
        QStringLiteral("--disable-quic"), QStringLiteral("--no-first-run"), QStringLiteral("--disable-background-networking"),
        QStringLiteral("--disable-component-update"), QStringLiteral("--disable-sync"),
        QStringLiteral("--user-data-dir=") + home + QStringLiteral("/profile"),
        QStringLiteral("--proxy-server=http://127.0.0.1:%1").arg(proxyPort),
        QStringLiteral("--proxy-bypass-list=") + direct.join(QLatin1Char(';')),
        QStringLiteral("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
        QStringLiteral("--virtual-time-budget=5000"), QStringLiteral("--dump-dom"), url};
    QProcess chromium;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert(QStringLiteral("HOME"), home);
    chromium.setProcessEnvironment(environment);
    chromium.start(QStringLiteral("chromium"), arguments);
    if (!chromium.waitForStarted(10'000))
        return QByteArray();
    if (!QTest::qWaitFor([&] { return chromium.state() == QProcess::NotRunning; }, 90'000)) {
        chromium.kill();
        chromium.waitForFinished(5'000);
    }
    return chromium.readAllStandardOutput();
}

void tst_Browser::pageLoadsDecrypted()
{
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QString home = nssHome(true);
    QVERIFY(!home.isEmpty());
    const QString origin = QStringLiteral("https://127.0.0.1:%1").arg(m_sitePort);
    const QByteArray dom = browse(proxy.port(), home, origin + QStringLiteral("/"));
    QVERIFY2(dom.contains("script ran: decrypted"), dom.constData());

    // Every resource crossed proxymon, decrypted, with its status.
    QStringList expected{QStringLiteral("/"), QStringLiteral("/style.css"), QStringLiteral("/app.js"),
                         QStringLiteral("/picture.bmp"), QStringLiteral("/data.json")};
    QVERIFY(QTest::qWaitFor([&] {
        QStringList seen;
        for (const HttpExchange &exchange : proxy.records.exchanges()) {
            if (exchange.secure && exchange.response.status == 200)
                seen.append(QString::fromLatin1(exchange.url()).mid(origin.size()));
        }
        return std::all_of(expected.begin(), expected.end(), [&](const QString &path) { return seen.contains(path); });
    }, 10'000));
    for (const HttpExchange &exchange : proxy.records.exchanges()) {
        if (exchange.url().endsWith("/picture.bmp")) {
            QVERIFY(exchange.complete);
            QCOMPARE(exchange.responseBodyBytes, quint64(Picture.size()));
        }
    }
    proxy.server.stop();
    QTRY_VERIFY(!proxy.server.isDraining());
    bool decrypted = false;
    for (const ConnectionRecord &record : proxy.records.closed())
        decrypted |= record.decryption == Decryption::Decrypted && record.clientTls().version.startsWith(QLatin1String("TLSv1.3"));
    QVERIFY(decrypted);
}

void tst_Browser::plainPageThroughTheHttpProxy()
{
    // http:// takes the HTTP proxy's own path, no tunnel: every request in
    // absolute form, rewritten and framed by proxymon, answered by nginx
    // over kept-alive upstreams.
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QString origin = QStringLiteral("http://127.0.0.1:%1").arg(m_plainPort);
    const QByteArray dom = browse(proxy.port(), nssHome(false), origin + QStringLiteral("/"));
    QVERIFY2(dom.contains("script ran: decrypted"), dom.constData());
    const QStringList expected{QStringLiteral("/"), QStringLiteral("/style.css"), QStringLiteral("/app.js"),
                               QStringLiteral("/picture.bmp"), QStringLiteral("/data.json")};
    QVERIFY(QTest::qWaitFor([&] {
        QStringList seen;
        for (const HttpExchange &exchange : proxy.records.exchanges()) {
            if (exchange.response.status == 200)
                seen.append(QString::fromLatin1(exchange.url()).mid(origin.size()));
        }
        return std::all_of(expected.begin(), expected.end(), [&](const QString &path) { return seen.contains(path); });
    }, 10'000));
    // Nothing a browser sends is refused or flagged.
    for (const HttpExchange &exchange : proxy.records.exchanges()) {
        QVERIFY2(!exchange.responseBody.startsWith("proxymon: "), exchange.responseBody.constData());
        QCOMPARE(exchange.flags, 0u);
        if (exchange.url().endsWith("/picture.bmp")) {
            QVERIFY(exchange.complete);
            QCOMPARE(exchange.responseBodyBytes, quint64(Picture.size()));
        }
    }
}

void tst_Browser::untrustedBrowserIsRejectedThenPassedThrough()
{
    // Without proxymon's CA the browser refuses the certificate: recorded
    // as a rejection, and the next connection passes through unread (the
    // browser then meets the site's own certificate, which it does not
    // trust either: the page does not load, but proxymon stayed out of it).
    RunningProxy proxy;
    QVERIFY(proxy.start(proxyConfig()));
    const QString url = QStringLiteral("https://127.0.0.1:%1/").arg(m_sitePort);
    const QByteArray refused = browse(proxy.port(), nssHome(false), url);
    QVERIFY(!refused.contains("script ran"));
    QTRY_VERIFY_WITH_TIMEOUT(!proxy.server.interception().rejections().isEmpty(), 10'000);
    QCOMPARE(proxy.server.interception().rejections().first().host, QStringLiteral("127.0.0.1"));
    browse(proxy.port(), nssHome(false), url);
    proxy.server.stop();
    QTRY_VERIFY(!proxy.server.isDraining());
    int rejected = 0;
    int passed = 0;
    for (const ConnectionRecord &record : proxy.records.closed()) {
        rejected += record.decryption == Decryption::Rejected;
        passed += record.decryption == Decryption::Passthrough;
    }
    QVERIFY2(rejected >= 1 && passed >= 1, qPrintable(QStringLiteral("%1 rejected, %2 passed").arg(rejected).arg(passed)));
}

QTEST_GUILESS_MAIN(tst_Browser)
#include "tst_browser.moc"
