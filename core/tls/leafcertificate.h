#pragma once

#include <QDateTime>
#include <QStringList>

#include <openssl/types.h>

// A server certificate made for the names a client asked for, with its
// key, signed by proxymon's certificate authority. Immutable once made,
// and shared between the connections (and worker threads) that show it.
class LeafCertificate
{
public:
    enum class KeyType { Ecdsa, Rsa };

    // Takes over certificate and key.
    LeafCertificate(X509 *certificate, EVP_PKEY *key, QStringList names, KeyType type);
    ~LeafCertificate();

    LeafCertificate(const LeafCertificate &) = delete;
    LeafCertificate &operator=(const LeafCertificate &) = delete;

    X509 *certificate() const { return m_certificate; }
    EVP_PKEY *key() const { return m_key; }
    const QStringList &names() const { return m_names; }
    KeyType keyType() const { return m_type; }
    QByteArray pem() const;

private:
    X509 *m_certificate;
    EVP_PKEY *m_key;
    const QStringList m_names;
    const KeyType m_type;
};
