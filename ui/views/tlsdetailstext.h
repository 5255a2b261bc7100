#pragma once

#include "connectionrecord.h"

#include <QString>

// A connection's TLS in words for the detail pane: whether proxymon read
// inside it and why not, then each leg (protocol, cipher, ALPN, SNI,
// handshake time) and the upstream's certificate check and chain.
class TlsDetailsText
{
public:
    static QString describe(const ConnectionRecord &record);
    // Each certificate of a PEM chain: subject, issuer, validity, SHA-256.
    static QString chain(const QByteArray &pem);
};
