#include "tlsleg.h"

#include "systemerror.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>

namespace {

QString lastError()
{
    QString text;
    while (const unsigned long code = ERR_get_error()) {
        if (!text.isEmpty())
            text += QStringLiteral("; ");
        const char *reason = ERR_reason_error_string(code);
        text += reason ? QString::fromLatin1(reason) : QStringLiteral("error %1").arg(code);
    }
    return text;
}

int legIndex()
{
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

} // namespace

TlsLeg::TlsLeg(int fd, SSL *ssl, QByteArray received)
    : m_socket(fd)
    , m_ssl(ssl)
    , m_received(std::move(received))
    , m_receivedBytes(quint64(m_received.size()))
{
    m_socketBio = BIO_new_socket(fd, BIO_NOCLOSE);
    if (m_received.isEmpty()) {
        SSL_set_bio(m_ssl, m_socketBio, m_socketBio);
    } else {
        // The bytes read already come first; "no more" from them means
        // "try again", not the end of the stream.
        m_receivedBio = BIO_new_mem_buf(m_received.constData(), int(m_received.size()));
        BIO_set_mem_eof_return(m_receivedBio, -1);
        SSL_set_bio(m_ssl, m_receivedBio, m_socketBio);
    }
    SSL_set_ex_data(m_ssl, legIndex(), this);
    SSL_set_info_callback(m_ssl, noteAlert);
    // Partial writes, as send() does; and a retry after "would block" may
    // come from the flow's kept buffer, which is not where the bytes were.
    SSL_set_mode(m_ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

TlsLeg::~TlsLeg()
{
    close(false);
}

void TlsLeg::noteAlert(const SSL *ssl, int where, int value)
{
    // Only alerts that came in, and only fatal ones (a close_notify is a
    // warning).
    if (!(where & SSL_CB_ALERT) || !(where & SSL_CB_READ) || SSL_alert_type_string(value)[0] != 'F')
        return;
    auto *leg = static_cast<TlsLeg *>(SSL_get_ex_data(ssl, legIndex()));
    if (leg && leg->m_peerAlert.isEmpty())
        leg->m_peerAlert = QString::fromLatin1(SSL_alert_desc_string_long(value));
}

bool TlsLeg::receivedConsumed()
{
    if (!m_receivedBio || BIO_pending(m_receivedBio) > 0)
        return false;
    // The memory BIO goes (the session held its only reference); the
    // socket's gets a second reference, as read side besides write side.
    BIO_up_ref(m_socketBio);
    SSL_set0_rbio(m_ssl, m_socketBio);
    m_receivedBio = nullptr;
    m_received = QByteArray();
    return true;
}

quint64 TlsLeg::wireBytesIn() const
{
    return m_ssl ? BIO_number_read(m_socketBio) + m_receivedBytes : m_wireIn;
}

quint64 TlsLeg::wireBytesOut() const
{
    return m_ssl ? BIO_number_written(m_socketBio) : m_wireOut;
}

TlsLeg::Handshake TlsLeg::handshake()
{
    int code;
    int error;
    do {
        ERR_clear_error();
        code = SSL_do_handshake(m_ssl);
        if (code == 1)
            return Handshake::Done;
        error = SSL_get_error(m_ssl, code);
        // The bytes read before ran out: the socket may hold the rest, and
        // its edge came and went already.
    } while (error == SSL_ERROR_WANT_READ && receivedConsumed());
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE)
        return Handshake::Pending;
    if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        m_error = QStringLiteral("the connection closed during the handshake");
        return Handshake::Failed;
    }
    if (!m_peerAlert.isEmpty()) {
        m_error = QStringLiteral("the peer sent the alert \"%1\"").arg(m_peerAlert);
        return Handshake::Failed;
    }
    m_error = lastError();
    // A certificate that fails its check: say why, in OpenSSL's words
    // ("certificate has expired", "Hostname mismatch"...).
    const long verified = SSL_get_verify_result(m_ssl);
    if (verified != X509_V_OK)
        m_error = QStringLiteral("certificate: %1").arg(QString::fromLatin1(X509_verify_cert_error_string(verified)));
    if (m_error.isEmpty()) {
        // The peer went away mid-handshake without an alert.
        const int socketError = pendingError();
        m_error = socketError ? SystemError::text(socketError)
                              : QStringLiteral("the connection closed during the handshake");
    }
    return Handshake::Failed;
}

QString TlsLeg::version() const
{
    return QString::fromLatin1(SSL_get_version(m_ssl));
}

QString TlsLeg::cipher() const
{
    return QString::fromLatin1(SSL_get_cipher_name(m_ssl));
}

QByteArray TlsLeg::alpn() const
{
    const unsigned char *protocol = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(m_ssl, &protocol, &length);
    return QByteArray(reinterpret_cast<const char *>(protocol), qsizetype(length));
}

QByteArray TlsLeg::peerChainPem() const
{
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(m_ssl);
    if (!chain)
        return QByteArray();
    BIO *out = BIO_new(BIO_s_mem());
    for (int i = 0; i < sk_X509_num(chain); ++i)
        PEM_write_bio_X509(out, sk_X509_value(chain, i));
    char *data = nullptr;
    const long length = BIO_get_mem_data(out, &data);
    QByteArray pem(data, qsizetype(length));
    BIO_free(out);
    return pem;
}

QString TlsLeg::verification() const
{
    const long result = SSL_get_verify_result(m_ssl);
    return result == X509_V_OK ? QStringLiteral("ok") : QString::fromLatin1(X509_verify_cert_error_string(result));
}

ssize_t TlsLeg::result(int code, size_t done)
{
    if (code == 1)
        return ssize_t(done);
    const int error = SSL_get_error(m_ssl, code);
    switch (error) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN: // close_notify
        m_ended = true;
        return 0;
    case SSL_ERROR_SYSCALL:
        // No errno: the TCP stream ended without close_notify. Otherwise
        // the socket's error (ECONNRESET, EPIPE) stands.
        if (errno == 0) {
            m_truncated = m_ended = true;
            return 0;
        }
        return -1;
    default:
        if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            m_truncated = m_ended = true;
            return 0;
        }
        m_error = lastError();
        errno = EPROTO;
        return -1;
    }
}

ssize_t TlsLeg::read(char *into, size_t capacity, bool *drained)
{
    // Only "would block" proves that neither the socket nor OpenSSL's
    // buffers hold more: never claim drained.
    *drained = false;
    return receive(SSL_read_ex, into, capacity);
}

ssize_t TlsLeg::peek(char *into, size_t capacity)
{
    return receive(SSL_peek_ex, into, capacity);
}

ssize_t TlsLeg::receive(int (*operation)(SSL *, void *, size_t, size_t *), char *into, size_t capacity)
{
    if (m_ended)
        return 0;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        size_t done = 0;
        const int code = operation(m_ssl, into, capacity, &done);
        if (code != 1 && SSL_get_error(m_ssl, code) == SSL_ERROR_WANT_READ && receivedConsumed())
            continue;
        return result(code, done);
    }
}

ssize_t TlsLeg::write(const char *data, size_t length)
{
    if (length == 0)
        return 0;
    ERR_clear_error();
    errno = 0;
    size_t done = 0;
    const int code = SSL_write_ex(m_ssl, data, length, &done);
    const ssize_t written = result(code, done);
    if (written == 0) {
        // A write never ends the stream; the peer closed under us.
        errno = EPIPE;
        return -1;
    }
    return written;
}

ssize_t TlsLeg::readToPipe(int, size_t)
{
    errno = EOPNOTSUPP;
    return -1;
}

ssize_t TlsLeg::writeFromPipe(int, size_t)
{
    errno = EOPNOTSUPP;
    return -1;
}

void TlsLeg::shutdownWrite()
{
    if (!m_socket.isOpen())
        return;
    // close_notify, then the FIN: the peer reads the end of the TLS stream
    // and may still send (TLS 1.3 half-close). When the socket is full,
    // OpenSSL keeps the alert and the FIN waits for room (writable()).
    if (!m_closeNotifySent) {
        m_closeNotifySent = true;
        ERR_clear_error();
        const int code = SSL_shutdown(m_ssl);
        const bool full = code < 0 && SSL_get_error(m_ssl, code) == SSL_ERROR_WANT_WRITE;
        ERR_clear_error();
        if (full) {
            m_finPending = true;
            return;
        }
    }
    m_socket.shutdownWrite();
}

void TlsLeg::writable()
{
    if (!m_finPending || !m_socket.isOpen())
        return;
    ERR_clear_error();
    const int code = SSL_shutdown(m_ssl);
    const bool full = code < 0 && SSL_get_error(m_ssl, code) == SSL_ERROR_WANT_WRITE;
    ERR_clear_error();
    if (full)
        return;
    m_finPending = false;
    m_socket.shutdownWrite();
}

int TlsLeg::pendingError() const
{
    return m_socket.pendingError();
}

int TlsLeg::unacknowledged() const
{
    return m_socket.unacknowledged();
}

void TlsLeg::close(bool reset)
{
    // An orderly close of a TLS stream says so first, or the peer takes
    // the end for a truncation.
    if (m_ssl && !reset && !m_closeNotifySent && m_socket.isOpen() && SSL_is_init_finished(m_ssl)) {
        ERR_clear_error();
        SSL_shutdown(m_ssl);
        ERR_clear_error();
    }
    if (m_ssl) {
        m_wireIn = wireBytesIn();
        m_wireOut = wireBytesOut();
        SSL_free(m_ssl);
        m_ssl = nullptr;
    }
    m_socket.close(reset);
}
