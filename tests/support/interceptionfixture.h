#pragma once

#include "certificateauthority.h"
#include "proxyconfig.h"
#include "replayclient.h"
#include "replayrequest.h"
#include "toolrun.h"

#include <QTemporaryDir>

#include <memory>

class ProxyServer;

// What the decryption tests share (a test class derives from it): an
// authority that signs the upstreams' certificates, proxymon's own
// authority (made by a first start) for the clients to trust, and
// configurations, uploads and resends through a proxy that uses both.
class InterceptionFixture
{
protected:
    // Checks that curl and openssl are there and makes both authorities;
    // false, with why, otherwise.
    bool prepare(QString *why);
    // Forwarding to 127.0.0.1:port, decrypting, the upstreams' authority
    // trusted.
    ProxyConfig forwardingTo(quint16 port) const;
    ProxyConfig httpProxy() const;
    QString curlCaArgument() const { return m_proxymonCa; }
    // curl -x through the proxy: POSTs the bytes to origin's /upload over
    // a decrypted CONNECT tunnel (the server answers with their digest).
    ToolRun uploadThroughProxy(const ProxyServer &server, const QString &origin, const QByteArray &upload,
                               const QString &name);
    // Sends the request again through the proxy, as the window's Resend.
    static ReplayClient::Outcome resend(const ReplayRequest &request, const ProxyServer &server);
    static bool writeTextFile(const QString &path, const QByteArray &text);
    // This process's resident memory, KiB (-1: unknown).
    static qint64 residentKib();

    QTemporaryDir m_directory;
    std::unique_ptr<CertificateAuthority> m_testAuthority; // the upstreams' certificates
    QString m_caDirectory;  // proxymon's authority, made by its first start
    QString m_proxymonCa;   // its certificate, for the clients to trust
};
