#pragma once

#include <QHash>
#include <QList>
#include <QMutex>
#include <QString>
#include <QStringList>

#include <atomic>
#include <memory>

class TlsServerContext;

// Which TLS connections proxymon decrypts, changeable while it runs and
// read by every worker: decryption on or off as a whole, hosts the user
// excluded (names, or "*.example.com" for a domain and its subdomains),
// hosts whose clients rejected proxymon's certificate this session (their
// next connections pass through unchanged, until the user takes the host
// off the list), and upstream hosts whose certificates are relayed
// unchecked because the user said so. Outlives a start and stop of the
// proxy: the lists are the session's.
class TlsInterception
{
public:
    // How to speak TLS to intercepted clients; null (with why) when there
    // is no certificate authority, or decryption was never on.
    void setServer(std::shared_ptr<const TlsServerContext> server, const QString &unavailable);
    std::shared_ptr<const TlsServerContext> server(QString *unavailable) const;

    void setEnabled(bool enabled) { m_enabled.store(enabled, std::memory_order_relaxed); }
    bool enabled() const { return m_enabled.load(std::memory_order_relaxed); }

    // Empty when a connection to host may be decrypted, else why not, in
    // words for the connection's row.
    QString passthroughReason(const QString &host) const;

    // The user's lists: hosts never decrypted, and upstream hosts relayed
    // although their certificate fails its check.
    enum class Hosts { Passthrough, Insecure };
    void setHosts(Hosts which, const QStringList &hosts);
    QStringList hosts(Hosts which) const;
    void addHost(Hosts which, const QString &host);
    void removeHost(Hosts which, const QString &host);
    bool listed(Hosts which, const QString &host) const;

    struct Rejection
    {
        QString host;
        QString why;
    };
    // A client rejected the certificate shown for host.
    void clientRejected(const QString &host, const QString &why);
    QList<Rejection> rejections() const;
    // The user's undo: decrypt host's connections again.
    void forgetRejection(const QString &host);

    // True once after any of the lists changed (the server then tells the
    // window, in its next batch).
    bool takeChanged() { return m_changed.exchange(false); }

    // "*.example.com" matches example.com and its subdomains; other
    // patterns match the name itself. Case does not matter.
    static bool matches(const QStringList &patterns, const QString &host);

private:
    void changed() { m_changed.store(true); }

    std::atomic<bool> m_enabled{true};
    std::atomic<bool> m_changed{false};
    mutable QMutex m_mutex;
    std::shared_ptr<const TlsServerContext> m_server;
    QString m_unavailable;
    QStringList m_hosts[2]; // by Hosts
    QList<Rejection> m_rejections;
};
