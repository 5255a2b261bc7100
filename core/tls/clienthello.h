#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QList>
#include <QString>

// What a TLS client says in its first flight, read without answering it:
// enough to decide whether to intercept the connection (is it TLS at all,
// which name, which application protocols) and which certificate to show
// (can it take an ECDSA one). Pure logic over bytes: the relay peeks the
// client's first bytes and asks.
struct ClientHello
{
    enum class Status {
        NeedMore,      // a ClientHello so far; more bytes will tell
        NotClientHello, // not TLS, or not a well-formed ClientHello: relay as is
        Complete,
    };

    QString serverName;      // SNI host_name, lower case; empty when not sent
    QList<QByteArray> alpn;  // offered application protocols, in the client's order
    quint16 maxVersion = 0;  // 0x0303 TLS 1.2, 0x0304 TLS 1.3
    bool offersEcdsa = false; // accepts a certificate with an ECDSA P-256 key
    qsizetype bytes = 0;     // how many bytes the records holding it took

    // Reads the hello from the first bytes a client sent (possibly split
    // over several records). Never reads more than MaxBytes.
    static Status parse(QByteArrayView data, ClientHello *out);
    static constexpr qsizetype MaxBytes = 64 * 1024;
};
