#pragma once

#include "loopback.h"

#include <QByteArray>
#include <QList>
#include <QMutex>
#include <QStringList>

#include <openssl/types.h>

#include <memory>

class CertificateAuthority;

// A TLS server on loopback for the tests: a leaf from a test authority for
// the names given, a thread per connection (ScriptedServer), and what it
// does once its handshake is done.
class TlsTestServer
{
public:
    enum class Behaviour {
        Echo, // every byte back; close_notify answered with close_notify
        Http, // keep-alive HTTP/1.1: "GET /bytes/N" answers N bytes of
              // randomBytes(N, 7); "GET /stream/N" answers N bytes of
              // streamChunk() repeated, written as they go (any size); a
              // request with a body answers its SHA-256 in hex; anything
              // else 200 "hello"
        Hello, // one "HTTP/1.1 200 OK ... hello" to the first request, then echo
    };
    // maxVersion: 0 for any (TLS 1.3 here), or TLS1_2_VERSION.
    TlsTestServer(CertificateAuthority &authority, Behaviour behaviour, const QStringList &names,
                  int maxVersion = 0);
    ~TlsTestServer();

    // The 64 KiB that "/stream/N" repeats.
    static const QByteArray &streamChunk();

    quint16 port() const { return m_server->port(); }
    int accepted() const { return m_server->accepted(); }
    // The key log lines of the sessions it made.
    QList<QByteArray> secrets() const;
    // Whether the last session ended with the peer's close_notify.
    bool sawCloseNotify() const { return m_closeNotify.load(); }
    // Whether it ended with the TCP stream's end and no close_notify.
    bool sawTruncation() const { return m_truncation.load(); }

private:
    void serve(SSL *ssl);
    static void serveHttp(SSL *ssl);

    const Behaviour m_behaviour;
    SSL_CTX *m_context = nullptr;
    std::unique_ptr<Loopback::ScriptedServer> m_server;
    mutable QMutex m_mutex;
    QList<QByteArray> m_secrets;
    std::atomic<bool> m_closeNotify{false};
    std::atomic<bool> m_truncation{false};
};
