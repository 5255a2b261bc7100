#include "timebreakdown.h"

using Kind = TimelineMark::Kind;
using Lane = TimelineMark::Lane;

QList<TimeBreakdown::Part> TimeBreakdown::of(const ConnectionRecord &record)
{
    const ConnectionTimeline &timeline = record.timeline;
    QList<Part> parts;
    if (timeline.resolveUs >= 0)
        parts.append({"dns_ms", QStringLiteral("name lookup"), timeline.resolveUs});
    if (timeline.connectUs >= 0)
        parts.append({"connect_ms", QStringLiteral("upstream connect"), timeline.connectUs});
    if (record.clientTls().handshakeMs >= 0 && !record.clientTls().isEmpty())
        parts.append({"tls_client_ms", QStringLiteral("TLS with the client"), qint64(record.clientTls().handshakeMs) * 1000});
    if (record.upstreamTls().handshakeMs >= 0 && !record.upstreamTls().isEmpty())
        parts.append({"tls_upstream_ms", QStringLiteral("TLS with the upstream"), qint64(record.upstreamTls().handshakeMs) * 1000});
    const qint64 clientFirst = timeline.timeOf(Kind::FirstByte, Lane::Client);
    const qint64 upstreamFirst = timeline.timeOf(Kind::FirstByte, Lane::Upstream);
    if (clientFirst >= 0 && upstreamFirst >= clientFirst)
        parts.append({"wait_ms", QStringLiteral("client's first byte to upstream's"), upstreamFirst - clientFirst});
    if (clientFirst >= 0 && timeline.lastByteUs[0] >= clientFirst)
        parts.append({"transfer_up_ms", QStringLiteral("transfer up (first to last byte)"), timeline.lastByteUs[0] - clientFirst});
    if (upstreamFirst >= 0 && timeline.lastByteUs[1] >= upstreamFirst)
        parts.append({"transfer_down_ms", QStringLiteral("transfer down (first to last byte)"), timeline.lastByteUs[1] - upstreamFirst});
    parts.append({"queued_up_ms", QStringLiteral("held in proxymon, up (upstream slow to take)"), timeline.waitedUs[0]});
    parts.append({"queued_down_ms", QStringLiteral("held in proxymon, down (client slow to take)"), timeline.waitedUs[1]});
    return parts;
}

QList<TimeBreakdown::Span> TimeBreakdown::spans(const ConnectionRecord &record, qint64 endUs)
{
    const ConnectionTimeline &timeline = record.timeline;
    QList<Span> spans;
    const qint64 resolved = timeline.timeOf(Kind::Resolved, Lane::Upstream);
    if (resolved >= 0 && timeline.resolveUs >= 0)
        spans.append({Phase::Lookup, qMax<qint64>(0, resolved - timeline.resolveUs), resolved});
    const qint64 connecting = timeline.timeOf(Kind::Connecting, Lane::Upstream);
    const qint64 connected = timeline.timeOf(Kind::Connected, Lane::Upstream);
    if (connecting >= 0) {
        qint64 until = connected;
        if (until < 0) {
            // Still connecting, or every attempt failed: to the last word on it.
            until = endUs;
            for (const TimelineMark &mark : timeline.marks) {
                if (mark.kind == Kind::ConnectFailed || (mark.kind == Kind::Timeout && mark.lane == Lane::Upstream))
                    until = mark.atUs;
            }
            if (record.isClosed())
                until = qMin(until, timeline.sampledUs);
        }
        spans.append({Phase::Connect, connecting, until});
    }
    qint64 tlsEnd = -1;
    for (const TimelineMark &mark : timeline.marks) {
        if (mark.kind == Kind::TlsDone)
            tlsEnd = qMax(tlsEnd, mark.atUs);
    }
    if (tlsEnd >= 0 && connected >= 0 && tlsEnd > connected)
        spans.append({Phase::Tls, connected, tlsEnd});
    const qint64 clientFirst = timeline.timeOf(Kind::FirstByte, Lane::Client);
    const qint64 upstreamFirst = timeline.timeOf(Kind::FirstByte, Lane::Upstream);
    if (clientFirst >= 0 && (upstreamFirst < 0 || upstreamFirst >= clientFirst))
        spans.append({Phase::Wait, clientFirst, upstreamFirst >= 0 ? upstreamFirst : (record.isClosed() ? timeline.sampledUs : endUs)});
    if (upstreamFirst >= 0) {
        // Down until the last byte; a live one may still be receiving.
        qint64 last = qMax(upstreamFirst, timeline.lastByteUs[1]);
        if (!record.isClosed() && endUs - last < 1'000'000)
            last = endUs;
        spans.append({Phase::Receive, upstreamFirst, last});
    }
    for (const Lane lane : {Lane::Client, Lane::Upstream}) {
        qint64 since = -1;
        for (const TimelineMark &mark : timeline.marks) {
            if (mark.lane != lane)
                continue;
            if (mark.kind == Kind::StallStart)
                since = mark.atUs;
            else if (mark.kind == Kind::StallEnd && since >= 0) {
                spans.append({Phase::Stall, since, mark.atUs, lane});
                since = -1;
            }
        }
        const qint64 waiting = timeline.waitingSinceUs[lane == Lane::Upstream ? 0 : 1];
        if (waiting >= 0 || since >= 0)
            spans.append({Phase::Stall, waiting >= 0 ? waiting : since, record.isClosed() ? timeline.sampledUs : endUs, lane});
    }
    return spans;
}

QString TimeBreakdown::phaseName(Phase phase)
{
    switch (phase) {
    case Phase::Lookup: return QStringLiteral("name lookup");
    case Phase::Connect: return QStringLiteral("connect");
    case Phase::Tls: return QStringLiteral("TLS");
    case Phase::Wait: return QStringLiteral("waiting for the upstream's first byte");
    case Phase::Receive: return QStringLiteral("receiving");
    case Phase::Stall: return QStringLiteral("stalled (a side not taking bytes)");
    }
    return QString();
}

QList<TimeBreakdown::Part> TimeBreakdown::ofExchange(const ConnectionRecord &record, const HttpExchange &exchange)
{
    QList<Part> parts;
    if (exchange.sequence == 1) {
        for (const Part &part : of(record)) {
            if (qstrcmp(part.key, "dns_ms") == 0 || qstrcmp(part.key, "connect_ms") == 0
                || qstrcmp(part.key, "tls_client_ms") == 0 || qstrcmp(part.key, "tls_upstream_ms") == 0)
                parts.append(part);
        }
    }
    // The exchange's span in the connection's time (µs since the accept).
    const qint64 end = exchange.responseCompleteMs ? exchange.responseCompleteMs
                       : record.closedMs            ? record.closedMs
                                                    : exchange.requestStartMs;
    const qint64 fromUs = (exchange.requestStartMs - record.openedMs) * 1000;
    const qint64 toUs = (end - record.openedMs) * 1000 + 999;
    qint64 held[2] = {0, 0};
    for (const Span &span : spans(record, record.timeline.sampledUs)) {
        if (span.phase != Phase::Stall)
            continue;
        const qint64 overlap = qMin(span.toUs, toUs) - qMax(span.fromUs, fromUs);
        if (overlap > 0)
            held[span.lane == Lane::Upstream ? 0 : 1] += overlap;
    }
    parts.append({"stalled_up_ms", QStringLiteral("held in proxymon during it, up (upstream slow to take)"), held[0]});
    parts.append({"stalled_down_ms", QStringLiteral("held in proxymon during it, down (client slow to take)"), held[1]});
    return parts;
}
