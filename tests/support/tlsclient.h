#pragma once

#include "loopback.h"

#include <QElapsedTimer>
#include <QFile>
#include <QString>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fcntl.h>
#include <poll.h>

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
    // The lab's client, both ways at once on this one thread (an SSL
    // object must never be used by two threads together): sends all of
    // data, then close_notify and the FIN, while reading until the stream
    // ends. *clean: it ended with close_notify; *error: what stopped it
    // otherwise. Gives up after timeoutMs.
    QByteArray exchange(const QByteArray &data, bool *clean, QString *error, int timeoutMs = 60'000)
    {
        const int fd = SSL_get_fd(m_ssl);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        SSL_set_mode(m_ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        QByteArray received;
        qsizetype sent = 0;
        bool notified = false; // close_notify out
        bool finished = false; // and the FIN after it
        *clean = false;
        QElapsedTimer clock;
        clock.start();
        char buffer[65536];
        for (;;) {
            bool wantWrite = false;
            bool moved = false;
            if (sent < data.size()) {
                size_t done = 0;
                ERR_clear_error();
                const int code = SSL_write_ex(m_ssl, data.constData() + sent, size_t(data.size() - sent), &done);
                if (code == 1) {
                    sent += qsizetype(done);
                    moved = true;
                } else if (SSL_get_error(m_ssl, code) == SSL_ERROR_WANT_WRITE) {
                    wantWrite = true;
                } else {
                    *error = QStringLiteral("write failed after %1 bytes").arg(sent);
                    return received;
                }
            }
            if (sent == data.size() && !notified) {
                ERR_clear_error();
                const int code = SSL_shutdown(m_ssl);
                if (code >= 0 || SSL_get_error(m_ssl, code) != SSL_ERROR_WANT_WRITE)
                    notified = true;
                else
                    wantWrite = true;
            }
            if (notified && !finished) {
                m_socket.shutdownWrite();
                finished = true;
            }
            for (;;) {
                size_t got = 0;
                ERR_clear_error();
                const int code = SSL_read_ex(m_ssl, buffer, sizeof buffer, &got);
                if (code == 1) {
                    received.append(buffer, qsizetype(got));
                    moved = true;
                    continue;
                }
                const int reason = SSL_get_error(m_ssl, code);
                if (reason == SSL_ERROR_WANT_READ)
                    break;
                *clean = reason == SSL_ERROR_ZERO_RETURN;
                if (!*clean)
                    *error = QStringLiteral("read ended with SSL error %1 (errno %2)").arg(reason).arg(errno);
                return received;
            }
            const int left = timeoutMs - int(clock.elapsed());
            if (moved && left > 0)
                continue;
            if (left <= 0) {
                *error = QStringLiteral("timed out with %1 bytes sent, %2 received").arg(sent).arg(received.size());
                return received;
            }
            pollfd waiting{fd, short(POLLIN | (wantWrite ? POLLOUT : 0)), 0};
            poll(&waiting, 1, qMin(left, 1000));
        }
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
