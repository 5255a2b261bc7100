#include "tlsinterception.h"

#include "tlsservercontext.h"

#include <QMutexLocker>

void TlsInterception::setServer(std::shared_ptr<const TlsServerContext> server, const QString &unavailable)
{
    QMutexLocker lock(&m_mutex);
    m_server = std::move(server);
    m_unavailable = unavailable;
}

std::shared_ptr<const TlsServerContext> TlsInterception::server(QString *unavailable) const
{
    QMutexLocker lock(&m_mutex);
    *unavailable = m_unavailable;
    return m_server;
}

bool TlsInterception::matches(const QStringList &patterns, const QString &host)
{
    for (const QString &pattern : patterns) {
        if (pattern.startsWith(QLatin1String("*."))) {
            const QStringView domain = QStringView(pattern).mid(2);
            if (host.compare(domain, Qt::CaseInsensitive) == 0
                || (host.size() > domain.size() && host.endsWith(domain, Qt::CaseInsensitive)
                    && host.at(host.size() - domain.size() - 1) == QLatin1Char('.')))
                return true;
        } else if (host.compare(pattern, Qt::CaseInsensitive) == 0) {
            return true;
        }
    }
    return false;
}

QString TlsInterception::passthroughReason(const QString &host) const
{
    if (!enabled())
        return QStringLiteral("decryption is off");
    QMutexLocker lock(&m_mutex);
    if (matches(m_hosts[int(Hosts::Passthrough)], host))
        return QStringLiteral("%1 is on the passthrough list").arg(host);
    for (const Rejection &rejection : m_rejections) {
        if (rejection.host.compare(host, Qt::CaseInsensitive) == 0)
            return QStringLiteral("a client of %1 rejected proxymon's certificate before").arg(host);
    }
    return QString();
}

void TlsInterception::setHosts(Hosts which, const QStringList &hosts)
{
    QMutexLocker lock(&m_mutex);
    m_hosts[int(which)] = hosts;
    changed();
}

QStringList TlsInterception::hosts(Hosts which) const
{
    QMutexLocker lock(&m_mutex);
    return m_hosts[int(which)];
}

void TlsInterception::addHost(Hosts which, const QString &host)
{
    QMutexLocker lock(&m_mutex);
    QStringList &list = m_hosts[int(which)];
    if (!list.contains(host, Qt::CaseInsensitive)) {
        list.append(host);
        changed();
    }
}

void TlsInterception::removeHost(Hosts which, const QString &host)
{
    QMutexLocker lock(&m_mutex);
    if (m_hosts[int(which)].removeAll(host) > 0)
        changed();
}

bool TlsInterception::listed(Hosts which, const QString &host) const
{
    QMutexLocker lock(&m_mutex);
    return matches(m_hosts[int(which)], host);
}

void TlsInterception::clientRejected(const QString &host, const QString &why)
{
    if (host.isEmpty())
        return;
    QMutexLocker lock(&m_mutex);
    for (const Rejection &rejection : std::as_const(m_rejections)) {
        if (rejection.host.compare(host, Qt::CaseInsensitive) == 0)
            return;
    }
    m_rejections.append({host, why});
    changed();
}

QList<TlsInterception::Rejection> TlsInterception::rejections() const
{
    QMutexLocker lock(&m_mutex);
    return m_rejections;
}

void TlsInterception::forgetRejection(const QString &host)
{
    QMutexLocker lock(&m_mutex);
    if (m_rejections.removeIf([&](const Rejection &r) { return r.host.compare(host, Qt::CaseInsensitive) == 0; }) > 0)
        changed();
}
