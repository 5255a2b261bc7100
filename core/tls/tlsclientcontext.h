#pragma once

#include <QString>

#include <openssl/types.h>

#include <memory>

class TlsKeyLog;

// How proxymon speaks TLS to upstream servers: the certificates it trusts
// (the system's store, plus a file the user names), whether it checks them
// at all (--insecure turns that off on purpose), TLS 1.2 or later, and
// only HTTP/1.1 offered in ALPN (the capture reads HTTP/1.x). Made once
// per start of the proxy, then shared read-only by every worker thread.
class TlsClientContext
{
public:
    ~TlsClientContext();

    TlsClientContext(const TlsClientContext &) = delete;
    TlsClientContext &operator=(const TlsClientContext &) = delete;

    // Null, with the reason in *error, when caFile cannot be used. With a
    // key log, every session's secrets go there.
    static std::shared_ptr<const TlsClientContext> create(const QString &caFile, bool insecure,
                                                          std::shared_ptr<TlsKeyLog> keyLog, QString *error);

    // A new client session toward host (a name or an address literal):
    // SNI for names, and the certificate checked against that name or
    // address; a failed check ends the handshake unless the context is
    // insecure or check is false (a host the user allowed), and is
    // reported either way.
    SSL *session(const QString &host, bool check = true) const;
    bool verifies() const { return !m_insecure; }

private:
    TlsClientContext(SSL_CTX *context, bool insecure, std::shared_ptr<TlsKeyLog> keyLog);

    SSL_CTX *m_context;
    const bool m_insecure;
    const std::shared_ptr<TlsKeyLog> m_keyLog;
};
