#pragma once

#include "leafcertificate.h"

#include <QStringList>

#include <openssl/types.h>

#include <memory>

class CertificateAuthority;
class TlsKeyLog;

// How proxymon speaks TLS to the clients whose connections it intercepts:
// as a server showing a leaf certificate its own authority signs for the
// names the client asked for, TLS 1.2 or later, and HTTP/1.1 (or 1.0)
// chosen in ALPN whatever else the client offers, since the capture reads
// HTTP/1.x. Made once per start of the proxy, then shared read-only by
// every worker thread (the authority's leaf cache has its own lock).
class TlsServerContext
{
public:
    ~TlsServerContext();

    TlsServerContext(const TlsServerContext &) = delete;
    TlsServerContext &operator=(const TlsServerContext &) = delete;

    // Null, with the reason in *error, when OpenSSL cannot be set up.
    static std::shared_ptr<const TlsServerContext> create(std::shared_ptr<CertificateAuthority> authority,
                                                          std::shared_ptr<TlsKeyLog> keyLog, QString *error);

    // A new server session showing a certificate for names (the first is
    // its subject); null, with the reason in *error, when none can be made.
    SSL *session(const QStringList &names, LeafCertificate::KeyType type, QString *error) const;
    CertificateAuthority &authority() const { return *m_authority; }

private:
    TlsServerContext(SSL_CTX *context, std::shared_ptr<CertificateAuthority> authority,
                     std::shared_ptr<TlsKeyLog> keyLog);

    SSL_CTX *m_context;
    const std::shared_ptr<CertificateAuthority> m_authority;
    const std::shared_ptr<TlsKeyLog> m_keyLog;
};
