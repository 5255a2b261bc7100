#include "leafcertificate.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

LeafCertificate::LeafCertificate(X509 *certificate, EVP_PKEY *key, QStringList names, KeyType type)
    : m_certificate(certificate)
    , m_key(key)
    , m_names(std::move(names))
    , m_type(type)
{
}

LeafCertificate::~LeafCertificate()
{
    X509_free(m_certificate);
    EVP_PKEY_free(m_key);
}

QByteArray LeafCertificate::pem() const
{
    BIO *out = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(out, m_certificate);
    char *data = nullptr;
    const long size = BIO_get_mem_data(out, &data);
    QByteArray text(data, qsizetype(size));
    BIO_free(out);
    return text;
}
