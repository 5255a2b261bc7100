#pragma once

#include <QMutex>
#include <QString>

#include <openssl/types.h>

#include <memory>

// The secrets of TLS sessions in the NSS key log format (SSLKEYLOGFILE),
// appended to a file as each handshake makes them, so that Wireshark can
// decrypt a packet capture of the legs proxymon speaks TLS on. Written
// from any worker thread, a whole line at a time.
class TlsKeyLog
{
public:
    ~TlsKeyLog();

    TlsKeyLog(const TlsKeyLog &) = delete;
    TlsKeyLog &operator=(const TlsKeyLog &) = delete;

    // Opens path for appending (made readable by its owner only: the
    // secrets decrypt everything); null with the reason when it cannot.
    static std::shared_ptr<TlsKeyLog> open(const QString &path, QString *error);

    // Makes every session of context log its secrets here, for as long as
    // this log lives (the context's owner keeps it alive).
    void attach(SSL_CTX *context);
    void write(const char *line);

private:
    explicit TlsKeyLog(int fd);

    const int m_fd;
    QMutex m_mutex;
};
