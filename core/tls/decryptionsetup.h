#pragma once

#include <QString>
#include <QStringList>

#include <memory>

class CertificateAuthority;
class TlsClientContext;
class TlsInterception;
class TlsKeyLog;

// What decrypting TLS needs across the proxy's starts, set up on the
// thread that starts it: the key log, the context upstream TLS is made
// from, proxymon's certificate authority (loaded on the first start that
// decrypts, again when the one on disk was replaced) with the server
// context made from it, and the interception the workers ask which
// connections to decrypt.
class DecryptionSetup
{
public:
    struct Settings
    {
        QString keyLogFile;         // TLS secrets appended here when set
        QString upstreamCaFile;     // trusted beside the system's store
        bool insecureUpstream = false;
        bool decrypt = true;
        QStringList passthroughHosts;
        QStringList insecureHosts;
        QString caDirectory;        // empty: the default
    };

    DecryptionSetup();
    ~DecryptionSetup();

    // For one start: the context upstream TLS is made from, or null with
    // *error when a key log or CA file the user named cannot be used.
    // Decrypting without an authority is not an error: TLS is relayed
    // unread then, and notice() says why.
    std::shared_ptr<const TlsClientContext> start(const Settings &settings, QString *error);
    // Decryption on or off while running (running: a start succeeded).
    void setEnabled(bool on, bool running);
    // The authority clients are given leaves of, while decrypting with it.
    std::shared_ptr<CertificateAuthority> authority() const;
    QString authorityCertificatePath() const;
    const std::shared_ptr<TlsInterception> &interception() const { return m_interception; }
    // Why decryption is unavailable, once, after start() or setEnabled()
    // found it so; empty otherwise.
    QString takeNotice();

private:
    void prepare();

    Settings m_settings;
    std::shared_ptr<TlsInterception> m_interception;
    std::shared_ptr<CertificateAuthority> m_authority;
    QString m_authorityDirectory;
    QString m_authorityError;
    std::shared_ptr<TlsKeyLog> m_keyLog; // the current start's, for contexts made while it runs
    bool m_decrypting = false;           // with a server context from m_authority
    QString m_notice;
};
