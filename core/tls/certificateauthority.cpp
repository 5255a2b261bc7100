#include "certificateauthority.h"

#include "systemerror.h"

#include <QDir>
#include <QFile>
#include <QHostAddress>
#include <QHostInfo>
#include <QMutexLocker>
#include <QStandardPaths>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

using KeyType = LeafCertificate::KeyType;

namespace {

constexpr long Hour = 3600;
constexpr long Day = 24 * Hour;
// Leaves live about a month: long enough for any session, short enough
// that a copied key is soon worthless. Clocks may be off by an hour.
constexpr long LeafDays = 30;
constexpr long AuthorityDays = 10 * 365;

QString openSslError(const QString &what)
{
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (!code)
        return what;
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return QStringLiteral("%1: %2").arg(what, QString::fromLatin1(text));
}

bool setRandomSerial(X509 *certificate)
{
    // 127 random bits: positive, unique in practice, unguessable.
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        return false;
    bytes[0] &= 0x7f;
    BIGNUM *number = BN_bin2bn(bytes, sizeof bytes, nullptr);
    const bool ok = number && BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate));
    BN_free(number);
    return ok;
}

bool addExtension(X509 *certificate, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    if (!extension)
        return false;
    const bool ok = X509_add_ext(certificate, extension, -1) == 1;
    X509_EXTENSION_free(extension);
    return ok;
}

// Subject alternative names built as values, not from a configuration
// string, so that no byte of a name a client sent can add another.
bool addAlternativeNames(X509 *certificate, const QStringList &names)
{
    GENERAL_NAMES *list = sk_GENERAL_NAME_new_null();
    bool ok = list != nullptr;
    for (const QString &name : names) {
        if (!ok)
            break;
        GENERAL_NAME *entry = GENERAL_NAME_new();
        const QByteArray text = name.toLatin1();
        if (ASN1_OCTET_STRING *address = a2i_IPADDRESS(text.constData())) {
            GENERAL_NAME_set0_value(entry, GEN_IPADD, address);
        } else {
            ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
            ASN1_STRING_set(dns, text.constData(), int(text.size()));
            GENERAL_NAME_set0_value(entry, GEN_DNS, dns);
        }
        ok = sk_GENERAL_NAME_push(list, entry) > 0;
    }
    ok = ok && X509_add1_ext_i2d(certificate, NID_subject_alt_name, list, 0, X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(list);
    return ok;
}

bool setValidity(X509 *certificate, long days)
{
    return X509_gmtime_adj(X509_getm_notBefore(certificate), -Hour)
        && X509_gmtime_adj(X509_getm_notAfter(certificate), days * Day);
}

EVP_PKEY *makeKey(KeyType type)
{
    return type == KeyType::Ecdsa ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
}

// Writes text to path with mode, replacing the file whole (a new file
// renamed over the old one).
bool writeFile(const QString &path, const QByteArray &text, mode_t mode, QString *error)
{
    const QByteArray temporary = QFile::encodeName(path + QStringLiteral(".new"));
    const int fd = ::open(temporary.constData(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    bool ok = fd >= 0 && ::fchmod(fd, mode) == 0;
    for (qsizetype done = 0; ok && done < text.size();) {
        const ssize_t n = ::write(fd, text.constData() + done, size_t(text.size() - done));
        ok = n > 0;
        done += n;
    }
    ok = fd >= 0 && ::fsync(fd) == 0 && ok;
    if (fd >= 0)
        ::close(fd);
    ok = ok && ::rename(temporary.constData(), QFile::encodeName(path).constData()) == 0;
    if (!ok) {
        *error = QStringLiteral("cannot write %1: %2").arg(path, SystemError::text(errno));
        ::unlink(temporary.constData());
    }
    return ok;
}

QByteArray memoryBio(const std::function<int(BIO *)> &write)
{
    BIO *out = BIO_new(BIO_s_mem());
    QByteArray bytes;
    if (out && write(out) == 1) {
        char *data = nullptr;
        const long size = BIO_get_mem_data(out, &data);
        bytes = QByteArray(data, qsizetype(size));
    }
    BIO_free(out);
    return bytes;
}

} // namespace

CertificateAuthority::CertificateAuthority(QString directory, X509 *certificate, EVP_PKEY *key, size_t cacheCapacity)
    : m_directory(std::move(directory))
    , m_certificate(certificate)
    , m_key(key)
    , m_cacheCapacity(qMax<size_t>(1, cacheCapacity))
{
}

CertificateAuthority::~CertificateAuthority()
{
    X509_free(m_certificate);
    EVP_PKEY_free(m_key);
}

std::unique_ptr<CertificateAuthority> CertificateAuthority::open(const QString &directory, QString *error,
                                                                 size_t cacheCapacity)
{
    const QString certificatePath = directory + QLatin1Char('/') + QLatin1String(CertificateFile);
    const QString keyPath = directory + QLatin1Char('/') + QLatin1String(KeyFile);
    const bool hasCertificate = QFile::exists(certificatePath);
    const bool hasKey = QFile::exists(keyPath);
    if (!hasCertificate && !hasKey)
        return create(directory, error, cacheCapacity);
    if (!hasCertificate || !hasKey) {
        *error = QStringLiteral("%1 is missing beside %2; move the other away to make a new authority "
                                "(clients will have to trust it again)")
                     .arg(hasKey ? certificatePath : keyPath, hasKey ? keyPath : certificatePath);
        return nullptr;
    }
    FILE *certificateFile = std::fopen(QFile::encodeName(certificatePath).constData(), "r");
    X509 *certificate = certificateFile ? PEM_read_X509(certificateFile, nullptr, nullptr, nullptr) : nullptr;
    if (certificateFile)
        std::fclose(certificateFile);
    FILE *keyFile = std::fopen(QFile::encodeName(keyPath).constData(), "r");
    EVP_PKEY *key = keyFile ? PEM_read_PrivateKey(keyFile, nullptr, nullptr, nullptr) : nullptr;
    if (keyFile)
        std::fclose(keyFile);
    QString problem;
    if (!certificate)
        problem = openSslError(QStringLiteral("cannot read the certificate in %1").arg(certificatePath));
    else if (!key)
        problem = openSslError(QStringLiteral("cannot read the key in %1").arg(keyPath));
    else if (X509_check_private_key(certificate, key) != 1)
        problem = QStringLiteral("the key in %1 does not belong to the certificate in %2").arg(keyPath, certificatePath);
    else if (X509_check_ca(certificate) == 0)
        problem = QStringLiteral("%1 is not a certificate authority").arg(certificatePath);
    if (!problem.isEmpty()) {
        X509_free(certificate);
        EVP_PKEY_free(key);
        *error = problem;
        return nullptr;
    }
    return std::unique_ptr<CertificateAuthority>(new CertificateAuthority(directory, certificate, key, cacheCapacity));
}

std::unique_ptr<CertificateAuthority> CertificateAuthority::replace(const QString &directory, QString *error,
                                                                    size_t cacheCapacity)
{
    return create(directory, error, cacheCapacity);
}

std::unique_ptr<CertificateAuthority> CertificateAuthority::create(const QString &directory, QString *error,
                                                                   size_t cacheCapacity)
{
    if (!QDir().mkpath(directory)) {
        *error = QStringLiteral("cannot create %1").arg(directory);
        return nullptr;
    }
    EVP_PKEY *key = makeKey(KeyType::Ecdsa);
    X509 *certificate = X509_new();
    // Named after the machine and the moment, so that a user who trusted
    // several can tell them apart in a trust store.
    const QByteArray commonName = QStringLiteral("proxymon CA (%1, %2)")
                                      .arg(QHostInfo::localHostName(),
                                           QDateTime::currentDateTimeUtc().toString(QStringLiteral("yyyy-MM-dd hh:mm")))
                                      .left(64)
                                      .toUtf8();
    X509_NAME *name = certificate ? X509_get_subject_name(certificate) : nullptr;
    bool ok = key && certificate && X509_set_version(certificate, 2) && setRandomSerial(certificate)
        && setValidity(certificate, AuthorityDays)
        && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char *>("proxymon"), -1, -1, 0)
        && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char *>(commonName.constData()), -1, -1, 0)
        && X509_set_issuer_name(certificate, name) && X509_set_pubkey(certificate, key)
        && addExtension(certificate, certificate, NID_basic_constraints, "critical,CA:TRUE,pathlen:0")
        && addExtension(certificate, certificate, NID_key_usage, "critical,keyCertSign,cRLSign")
        && addExtension(certificate, certificate, NID_subject_key_identifier, "hash")
        && X509_sign(certificate, key, EVP_sha256()) > 0;
    if (!ok) {
        *error = openSslError(QStringLiteral("cannot make a certificate authority"));
        X509_free(certificate);
        EVP_PKEY_free(key);
        return nullptr;
    }
    const QByteArray keyPem = memoryBio([&](BIO *out) {
        return PEM_write_bio_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
    });
    const QByteArray certificatePem = memoryBio([&](BIO *out) { return PEM_write_bio_X509(out, certificate); });
    // The key first: a certificate without its key would block the next
    // start, a key without its certificate is replaced then.
    if (!writeFile(directory + QLatin1Char('/') + QLatin1String(KeyFile), keyPem, 0600, error)
        || !writeFile(directory + QLatin1Char('/') + QLatin1String(CertificateFile), certificatePem, 0644, error)) {
        X509_free(certificate);
        EVP_PKEY_free(key);
        return nullptr;
    }
    return std::unique_ptr<CertificateAuthority>(new CertificateAuthority(directory, certificate, key, cacheCapacity));
}

QString CertificateAuthority::defaultDirectory()
{
    return QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation) + QStringLiteral("/proxymon/ca");
}

QString CertificateAuthority::fingerprint() const
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    X509_digest(m_certificate, EVP_sha256(), digest, &length);
    return QString::fromLatin1(QByteArray(reinterpret_cast<const char *>(digest), int(length)).toHex(':').toUpper());
}

QDateTime CertificateAuthority::validUntil() const
{
    tm time{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(m_certificate), &time) != 1)
        return QDateTime();
    return QDateTime(QDate(time.tm_year + 1900, time.tm_mon + 1, time.tm_mday),
                     QTime(time.tm_hour, time.tm_min, time.tm_sec), Qt::UTC);
}

QByteArray CertificateAuthority::certificatePem() const
{
    return memoryBio([this](BIO *out) { return PEM_write_bio_X509(out, m_certificate); });
}

QByteArray CertificateAuthority::certificateDer() const
{
    return memoryBio([this](BIO *out) { return i2d_X509_bio(out, m_certificate); });
}

std::shared_ptr<const LeafCertificate> CertificateAuthority::leaf(const QStringList &names, KeyType type)
{
    const QString key = (type == KeyType::Ecdsa ? QStringLiteral("ec ") : QStringLiteral("rsa "))
        + names.join(QLatin1Char(' '));
    {
        QMutexLocker lock(&m_mutex);
        const auto found = m_index.constFind(key);
        if (found != m_index.constEnd()) {
            m_leaves.splice(m_leaves.begin(), m_leaves, *found);
            return m_leaves.front().second;
        }
    }
    // Signed outside the lock: other threads' cached leaves need not wait.
    std::shared_ptr<const LeafCertificate> made = sign(names, type);
    if (!made)
        return nullptr;
    QMutexLocker lock(&m_mutex);
    const auto found = m_index.constFind(key);
    if (found != m_index.constEnd())
        return (*found)->second; // another thread made it meanwhile
    m_leaves.emplace_front(key, made);
    m_index.insert(key, m_leaves.begin());
    while (m_leaves.size() > m_cacheCapacity) {
        m_index.remove(m_leaves.back().first);
        m_leaves.pop_back();
    }
    return made;
}

size_t CertificateAuthority::cachedLeaves() const
{
    QMutexLocker lock(&m_mutex);
    return m_leaves.size();
}

std::shared_ptr<const LeafCertificate> CertificateAuthority::sign(const QStringList &names, KeyType type) const
{
    if (names.isEmpty())
        return nullptr;
    EVP_PKEY *key = makeKey(type);
    X509 *certificate = X509_new();
    X509_NAME *name = certificate ? X509_get_subject_name(certificate) : nullptr;
    const QByteArray subject = names.first().toUtf8();
    bool ok = key && certificate && X509_set_version(certificate, 2) && setRandomSerial(certificate)
        && setValidity(certificate, LeafDays)
        && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char *>("proxymon"), -1, -1, 0)
        // The common name is limited to 64 characters; clients read the
        // alternative names anyway.
        && (subject.size() > 64
            || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                          reinterpret_cast<const unsigned char *>(subject.constData()), -1, -1, 0))
        && X509_set_issuer_name(certificate, X509_get_subject_name(m_certificate))
        && X509_set_pubkey(certificate, key) && addAlternativeNames(certificate, names)
        && addExtension(certificate, m_certificate, NID_basic_constraints, "critical,CA:FALSE")
        && addExtension(certificate, m_certificate, NID_key_usage,
                        type == KeyType::Ecdsa ? "critical,digitalSignature" : "critical,digitalSignature,keyEncipherment")
        && addExtension(certificate, m_certificate, NID_ext_key_usage, "serverAuth")
        && addExtension(certificate, m_certificate, NID_subject_key_identifier, "hash")
        && addExtension(certificate, m_certificate, NID_authority_key_identifier, "keyid:always")
        && X509_sign(certificate, m_key, EVP_sha256()) > 0;
    if (!ok) {
        ERR_clear_error();
        X509_free(certificate);
        EVP_PKEY_free(key);
        return nullptr;
    }
    return std::make_shared<const LeafCertificate>(certificate, key, names, type);
}
