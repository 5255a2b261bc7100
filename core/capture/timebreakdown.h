#pragma once

#include "connectionrecord.h"

#include <QList>
#include <QString>

// Where a connection's time went, for any protocol: the lookup, the
// connect, the TLS handshakes, the wait from the client's first byte to
// the upstream's, the transfer each way, and the time bytes waited inside
// proxymon for a slow receiver. Read from the record's timeline; what did
// not happen is left out.
class TimeBreakdown
{
public:
    struct Part
    {
        const char *key; // JSONL name, "connect_ms"
        QString label;   // "upstream connect"
        qint64 us;
    };

    static QList<Part> of(const ConnectionRecord &record);
};
