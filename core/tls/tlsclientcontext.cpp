#include "tlsclientcontext.h"

#include "tlskeylog.h"

#include <QFile>
#include <QHostAddress>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

TlsClientContext::TlsClientContext(SSL_CTX *context, bool insecure, std::shared_ptr<TlsKeyLog> keyLog)
    : m_context(context)
    , m_insecure(insecure)
    , m_keyLog(std::move(keyLog))
{
    if (m_keyLog)
        m_keyLog->attach(m_context);
}

TlsClientContext::~TlsClientContext()
{
    SSL_CTX_free(m_context);
}

std::shared_ptr<const TlsClientContext> TlsClientContext::create(const QString &caFile, bool insecure,
                                                                 std::shared_ptr<TlsKeyLog> keyLog, QString *error)
{
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (!context) {
        *error = QStringLiteral("cannot set up TLS");
        return nullptr;
    }
    // TLS 1.0 and 1.1 are refused like a bad certificate ("old protocol"),
    // unless checking is off.
    if (!insecure)
        SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_default_verify_paths(context);
    if (!caFile.isEmpty()) {
        ERR_clear_error();
        if (!QFile::exists(caFile)
            || SSL_CTX_load_verify_locations(context, QFile::encodeName(caFile).constData(), nullptr) != 1) {
            const unsigned long code = ERR_get_error();
            ERR_clear_error();
            *error = QFile::exists(caFile)
                ? QStringLiteral("%1 holds no usable certificate (%2)")
                      .arg(caFile, QString::fromLatin1(ERR_reason_error_string(code) ? ERR_reason_error_string(code) : "?"))
                : QStringLiteral("%1 does not exist").arg(caFile);
            SSL_CTX_free(context);
            return nullptr;
        }
    }
    static const unsigned char http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(context, http11, sizeof http11);
    return std::shared_ptr<const TlsClientContext>(new TlsClientContext(context, insecure, std::move(keyLog)));
}

SSL *TlsClientContext::session(const QString &host, bool check) const
{
    SSL *ssl = SSL_new(m_context);
    if (!ssl)
        return nullptr;
    SSL_set_connect_state(ssl);
    const QByteArray name = host.toUtf8();
    const bool literal = !QHostAddress(host).isNull();
    // SNI carries names only (RFC 6066), never address literals.
    if (!literal)
        SSL_set_tlsext_host_name(ssl, name.constData());
    // The names are checked also when the result does not stop the
    // handshake, so that the record can say what was let through.
    X509_VERIFY_PARAM *parameters = SSL_get0_param(ssl);
    if (literal)
        X509_VERIFY_PARAM_set1_ip_asc(parameters, name.constData());
    else
        X509_VERIFY_PARAM_set1_host(parameters, name.constData(), 0);
    if (m_insecure || !check) {
        SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
        SSL_set_min_proto_version(ssl, 0);
    }
    return ssl;
}
