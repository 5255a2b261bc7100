#include "tlstestserver.h"

#include "certificateauthority.h"

#include <QCryptographicHash>
#include <QMutexLocker>

#include <openssl/err.h>
#include <openssl/ssl.h>

using namespace Loopback;

namespace {

int serverIndex()
{
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

bool writeAll(SSL *ssl, const QByteArray &data)
{
    for (qsizetype done = 0; done < data.size();) {
        size_t written = 0;
        if (SSL_write_ex(ssl, data.constData() + done, size_t(data.size() - done), &written) != 1)
            return false;
        done += qsizetype(written);
    }
    return true;
}

} // namespace

TlsTestServer::TlsTestServer(CertificateAuthority &authority, Behaviour behaviour, const QStringList &names,
                             int maxVersion)
    : m_behaviour(behaviour)
{
    const auto leaf = authority.leaf(names, LeafCertificate::KeyType::Ecdsa);
    m_context = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(m_context, leaf->certificate());
    SSL_CTX_use_PrivateKey(m_context, leaf->key());
    if (maxVersion)
        SSL_CTX_set_max_proto_version(m_context, maxVersion);
    SSL_CTX_set_ex_data(m_context, serverIndex(), this);
    SSL_CTX_set_keylog_callback(m_context, [](const SSL *ssl, const char *line) {
        auto *server = static_cast<TlsTestServer *>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), serverIndex()));
        QMutexLocker lock(&server->m_mutex);
        server->m_secrets.append(QByteArray(line));
    });
    m_server = std::make_unique<ScriptedServer>([this](Socket &connection, int) {
        SSL *ssl = SSL_new(m_context);
        SSL_set_fd(ssl, connection.fd());
        if (SSL_accept(ssl) == 1)
            serve(ssl);
        SSL_free(ssl);
    });
}

TlsTestServer::~TlsTestServer()
{
    m_server.reset(); // its handlers use the context
    SSL_CTX_free(m_context);
}

const QByteArray &TlsTestServer::streamChunk()
{
    static const QByteArray chunk = randomBytes(64 * 1024, 13);
    return chunk;
}

QList<QByteArray> TlsTestServer::secrets() const
{
    QMutexLocker lock(&m_mutex);
    return m_secrets;
}

void TlsTestServer::serve(SSL *ssl)
{
    if (m_behaviour == Behaviour::Http) {
        serveHttp(ssl);
    } else {
        char buffer[65536];
        size_t got = 0;
        bool answered = m_behaviour != Behaviour::Hello;
        while (SSL_read_ex(ssl, buffer, sizeof buffer, &got) == 1) {
            if (!answered) {
                answered = true;
                if (!writeAll(ssl, QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")))
                    break;
                continue;
            }
            if (!writeAll(ssl, QByteArray::fromRawData(buffer, qsizetype(got))))
                break;
        }
    }
    // The client's close_notify (proxymon passing on a FIN): end this
    // direction the same way.
    const bool closeNotify = SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN;
    m_closeNotify.store(closeNotify);
    m_truncation.store(ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING);
    ERR_clear_error();
    if (closeNotify)
        SSL_shutdown(ssl);
}

void TlsTestServer::serveHttp(SSL *ssl)
{
    QByteArray pending;
    char buffer[65536];
    for (;;) {
        qsizetype end;
        while ((end = pending.indexOf("\r\n\r\n")) < 0) {
            size_t got = 0;
            if (SSL_read_ex(ssl, buffer, sizeof buffer, &got) != 1)
                return;
            pending.append(buffer, qsizetype(got));
        }
        const QByteArray head = pending.left(end + 4);
        pending.remove(0, end + 4);
        const QList<QByteArray> lines = head.split('\n');
        const QList<QByteArray> requestLine = lines.first().trimmed().split(' ');
        qint64 length = 0;
        for (const QByteArray &line : lines) {
            if (line.toLower().startsWith("content-length:"))
                length = line.mid(15).trimmed().toLongLong();
        }
        QCryptographicHash digest(QCryptographicHash::Sha256);
        while (length > 0) {
            if (pending.isEmpty()) {
                size_t got = 0;
                if (SSL_read_ex(ssl, buffer, sizeof buffer, &got) != 1)
                    return;
                pending.append(buffer, qsizetype(got));
            }
            const qsizetype take = qsizetype(qMin<qint64>(length, pending.size()));
            digest.addData(QByteArrayView(pending.constData(), take));
            pending.remove(0, take);
            length -= take;
        }
        const QByteArray target = requestLine.value(1);
        if (target.startsWith("/stream/")) {
            qint64 left = target.mid(8).toLongLong();
            if (!writeAll(ssl, "HTTP/1.1 200 OK\r\nContent-Length: " + QByteArray::number(left) + "\r\n\r\n"))
                return;
            const QByteArray &chunk = streamChunk();
            while (left > 0) {
                const qsizetype take = qsizetype(qMin<qint64>(left, chunk.size()));
                if (!writeAll(ssl, QByteArray::fromRawData(chunk.constData(), take)))
                    return;
                left -= take;
            }
            continue;
        }
        QByteArray body;
        if (target.startsWith("/bytes/"))
            body = randomBytes(target.mid(7).toLongLong(), 7);
        else if (head.toLower().contains("content-length:"))
            body = digest.result().toHex();
        else
            body = "hello";
        const QByteArray response = "HTTP/1.1 200 OK\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n\r\n";
        if (!writeAll(ssl, response) || !writeAll(ssl, body))
            return;
    }
}
