#pragma once

#include "tcpleg.h"

#include <QByteArray>
#include <QString>

#include <openssl/types.h>

// A leg that speaks TLS over a TCP leg: the flows above read and write
// plaintext, records go on the wire. It cannot splice (the
// bytes must pass through OpenSSL), so a flow through it copies.
//
// Exact like the TCP leg: the peer's close_notify reads as the end of the
// stream (0); an end of the TCP stream without close_notify reads as the
// end too, and says so (truncated()); shutdownWrite() sends close_notify
// and then a FIN, and reading goes on (TLS 1.3 half-close); a reset reads
// as ECONNRESET and close(true) sends one; close(false) sends close_notify
// first if it has not gone yet. Errors of the TLS layer read as
// EPROTO, with OpenSSL's words in errorText().
class TlsLeg final : public Leg
{
public:
    // Takes over fd (non-blocking, connected) and ssl (configured for its
    // role: context, certificate or expected name). received: bytes of the
    // peer's that were read off the socket already (a ClientHello read to
    // decide whether to intercept); OpenSSL reads them before the socket.
    TlsLeg(int fd, SSL *ssl, QByteArray received = QByteArray());
    ~TlsLeg() override;

    TlsLeg(const TlsLeg &) = delete;
    TlsLeg &operator=(const TlsLeg &) = delete;

    enum class Handshake { Done, Pending, Failed };
    // Moves the handshake on; Pending until the socket is ready again,
    // Failed with the reason in errorText().
    Handshake handshake();

    QString errorText() const { return m_error; }
    bool truncated() const { return m_truncated; }
    QString version() const;
    QString cipher() const;
    QByteArray alpn() const;
    // The peer's certificates as PEM, its own first; empty if it sent none.
    QByteArray peerChainPem() const;
    // "ok", or OpenSSL's words for why the peer's certificate failed its
    // check (also when the check did not stop the handshake).
    QString verification() const;
    // Bytes as they crossed the wire, records and handshake included.
    quint64 wireBytesIn() const;
    quint64 wireBytesOut() const;
    // The alert the peer ended the handshake with ("unknown CA"), if any.
    QString peerAlert() const { return m_peerAlert; }
    // The stream this leg passes on ended without close_notify: end this
    // one with a bare FIN too, so that a truncation stays one.
    void skipCloseNotify() { m_closeNotifySent = true; }
    SSL *ssl() const { return m_ssl; }

    int descriptor() const override { return m_socket.descriptor(); }
    ssize_t read(char *into, size_t capacity, bool *drained) override;
    ssize_t peek(char *into, size_t capacity) override;
    ssize_t write(const char *data, size_t length) override;
    bool canSplice() const override { return false; }
    ssize_t readToPipe(int pipeWrite, size_t length) override;
    ssize_t writeFromPipe(int pipeRead, size_t length) override;
    void shutdownWrite() override;
    void writable() override;
    int pendingError() const override;
    int unacknowledged() const override;
    void close(bool reset) override;

private:
    // SSL_read_ex or SSL_peek_ex, in the system call conventions.
    ssize_t receive(int (*operation)(SSL *, void *, size_t, size_t *), char *into, size_t capacity);
    // Turns an OpenSSL result into the system call conventions.
    ssize_t result(int code, size_t done);
    // Once OpenSSL has read the bytes received before, it reads the
    // socket; true when it just switched (what wanted more may retry).
    bool receivedConsumed();
    static void noteAlert(const SSL *ssl, int where, int value);

    TcpLeg m_socket; // what the records travel over
    SSL *m_ssl;
    BIO *m_socketBio = nullptr;    // the socket, for reading once m_received is used up
    QByteArray m_received;         // what m_receivedBio reads from
    quint64 m_receivedBytes = 0;
    quint64 m_wireIn = 0;          // the counts, once the session is gone
    quint64 m_wireOut = 0;
    BIO *m_receivedBio = nullptr;  // the read side while it has bytes; owned by m_ssl
    QString m_error;
    QString m_peerAlert;
    bool m_truncated = false;
    bool m_ended = false;
    bool m_closeNotifySent = false;
    bool m_finPending = false;     // close_notify waits for room; the FIN after it
};
