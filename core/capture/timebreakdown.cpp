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
    if (record.clientTls.handshakeMs >= 0 && !record.clientTls.isEmpty())
        parts.append({"tls_client_ms", QStringLiteral("TLS with the client"), qint64(record.clientTls.handshakeMs) * 1000});
    if (record.upstreamTls.handshakeMs >= 0 && !record.upstreamTls.isEmpty())
        parts.append({"tls_upstream_ms", QStringLiteral("TLS with the upstream"), qint64(record.upstreamTls.handshakeMs) * 1000});
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
