#pragma once

#include "leafcertificate.h"

#include <QByteArray>
#include <QDateTime>
#include <QHash>
#include <QMutex>
#include <QString>

#include <openssl/types.h>

#include <list>
#include <memory>

// proxymon's own certificate authority, unique to each installation: a
// P-256 key and a self-signed CA certificate kept in a directory (the key
// readable by its owner only), made on first use and reused afterwards;
// replaced only when asked. It signs leaf certificates on demand for the
// names clients ask for (DNS names, or IP addresses as IP SANs): valid
// about 30 days, random serials, an ECDSA P-256 key, or RSA 2048 for a
// client that offers no ECDSA. Leaves are cached, least recently used
// going first, so a browser's hundred connections to one host cost one
// signature. Safe to use from any thread.
class CertificateAuthority
{
public:
    ~CertificateAuthority();

    CertificateAuthority(const CertificateAuthority &) = delete;
    CertificateAuthority &operator=(const CertificateAuthority &) = delete;

    static constexpr const char *CertificateFile = "proxymon-ca.pem";
    static constexpr const char *KeyFile = "proxymon-ca.key";

    // Loads the authority kept in directory, or creates it there when
    // neither file exists. Null, with the reason in *error, when they
    // cannot be read, do not belong together, or cannot be written: an
    // existing authority is never replaced behind the user's back.
    static std::unique_ptr<CertificateAuthority> open(const QString &directory, QString *error,
                                                      size_t cacheCapacity = 1000);
    // Makes a new authority in directory, replacing any there (the user
    // asked: every client must trust the new one).
    static std::unique_ptr<CertificateAuthority> replace(const QString &directory, QString *error,
                                                         size_t cacheCapacity = 1000);

    // Where the application keeps its authority: ~/.local/share/proxymon/ca.
    static QString defaultDirectory();

    QString certificatePath() const { return m_directory + QLatin1Char('/') + QLatin1String(CertificateFile); }
    QByteArray certificatePem() const;
    QByteArray certificateDer() const;
    X509 *certificate() const { return m_certificate; }
    // SHA-256 of the certificate, as "AB:CD:…", the way trust stores show it.
    QString fingerprint() const;
    QDateTime validUntil() const;

    // A certificate for names (the first is its subject), from the cache
    // when one was made already; null only if OpenSSL fails.
    std::shared_ptr<const LeafCertificate> leaf(const QStringList &names, LeafCertificate::KeyType type);
    size_t cachedLeaves() const;

private:
    CertificateAuthority(QString directory, X509 *certificate, EVP_PKEY *key, size_t cacheCapacity);
    static std::unique_ptr<CertificateAuthority> create(const QString &directory, QString *error,
                                                        size_t cacheCapacity);
    std::shared_ptr<const LeafCertificate> sign(const QStringList &names, LeafCertificate::KeyType type) const;

    const QString m_directory;
    X509 *m_certificate;
    EVP_PKEY *m_key;
    const size_t m_cacheCapacity;

    mutable QMutex m_mutex;
    // Most recently used first; the map points into the list.
    using Entry = std::pair<QString, std::shared_ptr<const LeafCertificate>>;
    std::list<Entry> m_leaves;
    QHash<QString, std::list<Entry>::iterator> m_index;
};
