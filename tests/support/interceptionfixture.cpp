#include "interceptionfixture.h"

#include "proxyserver.h"

#include <QFile>
#include <QSignalSpy>
#include <QStandardPaths>

bool InterceptionFixture::prepare(QString *why)
{
    for (const char *tool : {"curl", "openssl"}) {
        if (QStandardPaths::findExecutable(QString::fromLatin1(tool)).isEmpty()) {
            *why = QStringLiteral("%1 is not installed (scripts/test.sh installs it)").arg(QString::fromLatin1(tool));
            return false;
        }
    }
    m_testAuthority = CertificateAuthority::open(m_directory.filePath(QStringLiteral("upstreams")), why);
    if (!m_testAuthority)
        return false;
    m_caDirectory = m_directory.filePath(QStringLiteral("proxymon"));
    m_proxymonCa = m_caDirectory + QStringLiteral("/proxymon-ca.pem");
    // The first start makes proxymon's authority.
    ProxyServer server;
    if (!server.start(forwardingTo(9))) {
        *why = server.errorString();
        return false;
    }
    if (!QFile::exists(m_proxymonCa)) {
        *why = QStringLiteral("the first start made no authority at %1").arg(m_proxymonCa);
        return false;
    }
    return true;
}

ProxyConfig InterceptionFixture::forwardingTo(quint16 port) const
{
    ProxyConfig config;
    config.listenAddress = QHostAddress::LocalHost;
    config.targetHost = QStringLiteral("127.0.0.1");
    config.targetPort = port;
    config.upstreamCaFile = m_testAuthority->certificatePath();
    config.caDirectory = m_caDirectory;
    config.stopGraceMs = 100;
    return config;
}

ProxyConfig InterceptionFixture::httpProxy() const
{
    ProxyConfig config = forwardingTo(0);
    config.mode = ProxyConfig::Mode::HttpProxy;
    config.targetHost.clear();
    return config;
}

ToolRun InterceptionFixture::uploadThroughProxy(const ProxyServer &server, const QString &origin,
                                                const QByteArray &upload, const QString &name)
{
    const QString uploadPath = m_directory.filePath(name);
    QFile file(uploadPath);
    if (!file.open(QIODevice::WriteOnly) || file.write(upload) != upload.size())
        return ToolRun{};
    file.close();
    return ToolRun::run(QStringLiteral("curl"), {
        QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
        QStringLiteral("-x"), QStringLiteral("http://127.0.0.1:%1").arg(server.listenPort()),
        QStringLiteral("--cacert"), m_proxymonCa,
        QStringLiteral("--data-binary"), QStringLiteral("@") + uploadPath, origin + QStringLiteral("/upload")});
}

ReplayClient::Outcome InterceptionFixture::resend(const ReplayRequest &request, const ProxyServer &server)
{
    ReplayRequest::Listener listener;
    listener.host = QStringLiteral("127.0.0.1");
    listener.port = server.listenPort();
    listener.httpProxy = server.config().mode == ProxyConfig::Mode::HttpProxy;
    listener.authorityFile = server.authorityCertificatePath();
    QString error;
    const ReplayClient::Plan plan = request.plan(listener, &error);
    if (!error.isEmpty()) {
        ReplayClient::Outcome failed;
        failed.error = error;
        return failed;
    }
    ReplayClient client;
    QSignalSpy finished(&client, &ReplayClient::finished);
    client.start(plan);
    if (!finished.wait(20'000)) {
        ReplayClient::Outcome failed;
        failed.error = QStringLiteral("no outcome in 20 s");
        return failed;
    }
    return finished.first().first().value<ReplayClient::Outcome>();
}

bool InterceptionFixture::writeTextFile(const QString &path, const QByteArray &text)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(text) == text.size();
}

qint64 InterceptionFixture::residentKib()
{
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : status.readAll().split('\n')) {
        if (line.startsWith("VmRSS:"))
            return line.mid(6).trimmed().split(' ').first().toLongLong();
    }
    return -1;
}
