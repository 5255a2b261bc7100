#include "tlsservercontext.h"

#include "certificateauthority.h"
#include "tlskeylog.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstring>

namespace {

// Picks http/1.1, else http/1.0, from the client's list. A client that
// offers neither (h2 only) was passed through before it got here; one
// that offers other things besides gets HTTP/1.1 and no complaint.
int selectHttp1(SSL *, const unsigned char **out, unsigned char *outLength, const unsigned char *in,
                unsigned int inLength, void *)
{
    for (const char *wanted : {"http/1.1", "http/1.0"}) {
        const size_t length = std::strlen(wanted);
        for (unsigned int i = 0; i < inLength; i += 1u + in[i]) {
            if (in[i] == length && i + 1 + length <= inLength && std::memcmp(in + i + 1, wanted, length) == 0) {
                *out = in + i + 1;
                *outLength = in[i];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

} // namespace

TlsServerContext::TlsServerContext(SSL_CTX *context, std::shared_ptr<CertificateAuthority> authority,
                                   std::shared_ptr<TlsKeyLog> keyLog)
    : m_context(context)
    , m_authority(std::move(authority))
    , m_keyLog(std::move(keyLog))
{
    if (m_keyLog)
        m_keyLog->attach(m_context);
}

TlsServerContext::~TlsServerContext()
{
    SSL_CTX_free(m_context);
}

std::shared_ptr<const TlsServerContext> TlsServerContext::create(std::shared_ptr<CertificateAuthority> authority,
                                                                 std::shared_ptr<TlsKeyLog> keyLog, QString *error)
{
    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    if (!context) {
        *error = QStringLiteral("cannot set up TLS for clients");
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_alpn_select_cb(context, selectHttp1, nullptr);
    // Resumed sessions skip the signature: a client's next connections to
    // the same host cost less, as they would with the real server.
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_SERVER);
    static const unsigned char sessionContext[] = "proxymon";
    SSL_CTX_set_session_id_context(context, sessionContext, sizeof sessionContext - 1);
    return std::shared_ptr<const TlsServerContext>(
        new TlsServerContext(context, std::move(authority), std::move(keyLog)));
}

SSL *TlsServerContext::session(const QStringList &names, LeafCertificate::KeyType type, QString *error) const
{
    const std::shared_ptr<const LeafCertificate> leaf = m_authority->leaf(names, type);
    if (!leaf) {
        *error = QStringLiteral("cannot make a certificate for %1").arg(names.join(QLatin1Char(',')));
        return nullptr;
    }
    SSL *ssl = SSL_new(m_context);
    if (!ssl) {
        *error = QStringLiteral("cannot start TLS");
        return nullptr;
    }
    // Both take references: the session keeps the leaf's certificate and
    // key alive after the cache lets go of it.
    if (SSL_use_certificate(ssl, leaf->certificate()) != 1 || SSL_use_PrivateKey(ssl, leaf->key()) != 1) {
        ERR_clear_error();
        SSL_free(ssl);
        *error = QStringLiteral("cannot use the certificate for %1").arg(names.join(QLatin1Char(',')));
        return nullptr;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}
