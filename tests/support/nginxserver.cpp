#include "nginxserver.h"

#include "loopback.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTest>

NginxServer::NginxServer()
{
    m_process.setProcessChannelMode(QProcess::ForwardedChannels);
}

NginxServer::~NginxServer()
{
    if (m_process.state() == QProcess::NotRunning)
        return;
    m_process.terminate();
    if (!m_process.waitForFinished(5'000))
        m_process.kill();
    m_process.waitForFinished(5'000);
}

QString NginxServer::path(const QString &name) const
{
    return m_directory.filePath(name);
}

bool NginxServer::write(const QString &name, const QByteArray &data) const
{
    const QString file = path(name);
    if (!QDir().mkpath(QFileInfo(file).path()))
        return false;
    QFile out(file);
    return out.open(QIODevice::WriteOnly) && out.write(data) == data.size();
}

bool NginxServer::start(const QString &httpLines, quint16 waitPort, QString *error)
{
    const QString conf = QStringLiteral(
        "daemon off; master_process off; worker_processes 1;\n"
        "error_log %1/nginx-error.log; pid %1/nginx.pid;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "  access_log %1/access.log; sendfile on;\n"
        "  client_body_temp_path %1/tmp; proxy_temp_path %1/tmp; fastcgi_temp_path %1/tmp;\n"
        "  uwsgi_temp_path %1/tmp; scgi_temp_path %1/tmp;\n")
        + httpLines + QStringLiteral("}\n");
    if (!QDir().mkpath(path(QStringLiteral("tmp"))) || !write(QStringLiteral("nginx.conf"), conf.arg(m_directory.path()).toUtf8())) {
        *error = QStringLiteral("cannot write nginx's files in %1").arg(m_directory.path());
        return false;
    }
    m_process.start(QStringLiteral("/usr/sbin/nginx"),
                    {QStringLiteral("-p"), m_directory.path(), QStringLiteral("-c"), path(QStringLiteral("nginx.conf"))});
    if (!m_process.waitForStarted(10'000)) {
        *error = QStringLiteral("nginx did not start: %1").arg(m_process.errorString());
        return false;
    }
    if (!QTest::qWaitFor([&] { return Loopback::connectTo("127.0.0.1", waitPort).isValid(); }, 10'000)) {
        *error = QStringLiteral("nginx does not accept on port %1").arg(waitPort);
        return false;
    }
    return true;
}
