#pragma once

#include "loopback.h"

#include <QFile>
#include <QString>

#include <openssl/ssl.h>

// A blocking TLS client of proxymon's, in the test's own hands: what it
// sends, how it ends (close_notify, a bare FIN, a reset), how it reads.
class TlsClient
{
public:
    TlsClient(quint16 port, const QString &trusted, const char *name)
        : m_socket(Loopback::connectTo("127.0.0.1", port))
        , m_context(SSL_CTX_new(TLS_client_method()))
    {
        SSL_CTX_load_verify_locations(m_context, QFile::encodeName(trusted).constData(), nullptr);
        SSL_CTX_set_verify(m_context, SSL_VERIFY_PEER, nullptr);
        m_ssl = SSL_new(m_context);
        SSL_set_fd(m_ssl, m_socket.fd());
        SSL_set_tlsext_host_name(m_ssl, name);
        SSL_set1_host(m_ssl, name);
        m_connected = SSL_connect(m_ssl) == 1;
    }
    ~TlsClient()
    {
        SSL_free(m_ssl);
        SSL_CTX_free(m_context);
    }
    bool connected() const { return m_connected; }
    bool write(const QByteArray &data)
    {
        size_t done = 0;
        return SSL_write_ex(m_ssl, data.constData(), size_t(data.size()), &done) == 1;
    }
    QByteArray readSome(size_t most = 65536)
    {
        QByteArray buffer(qsizetype(most), Qt::Uninitialized);
        size_t got = 0;
        return SSL_read_ex(m_ssl, buffer.data(), most, &got) == 1 ? buffer.left(qsizetype(got)) : QByteArray();
    }
    // Reads until the stream ends; *clean: it ended with close_notify.
    QByteArray readToEnd(bool *clean)
    {
        QByteArray all;
        for (QByteArray piece; !(piece = readSome()).isEmpty();)
            all += piece;
        *clean = SSL_get_error(m_ssl, 0) == SSL_ERROR_ZERO_RETURN;
        return all;
    }
    void closeNotifyAndFin()
    {
        SSL_shutdown(m_ssl);
        m_socket.shutdownWrite();
    }
    void finWithoutCloseNotify() { m_socket.shutdownWrite(); }
    void reset() { m_socket.reset(); }
    SSL *ssl() const { return m_ssl; }

private:
    Loopback::Socket m_socket;
    SSL_CTX *m_context;
    SSL *m_ssl = nullptr;
    bool m_connected = false;
};
