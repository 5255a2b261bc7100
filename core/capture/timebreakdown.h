#pragma once

#include "connectionrecord.h"
#include "httpexchange.h"

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
    // The same for one HTTP exchange of the connection: its first one
    // carries the lookup, connect and TLS; each counts the stalls (waits
    // for a side of 10 ms or more) within its own time, up and down.
    static QList<Part> ofExchange(const ConnectionRecord &record, const HttpExchange &exchange);

    // The same as spans of the connection's time, for a waterfall bar.
    enum class Phase : quint8 { Lookup, Connect, Tls, Wait, Receive, Stall };
    struct Span
    {
        Phase phase;
        qint64 fromUs;
        qint64 toUs;
        // A stall's lane: the side that was not taking bytes.
        TimelineMark::Lane lane = TimelineMark::Lane::Connection;
    };
    // Spans in drawing order (stalls last, over the rest); endUs closes
    // spans still open on a live connection.
    static QList<Span> spans(const ConnectionRecord &record, qint64 endUs);
    static QString phaseName(Phase phase);
};
