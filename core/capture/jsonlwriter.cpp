#include "jsonlwriter.h"

#include "jsonline.h"
#include "timebreakdown.h"

#include <QDateTime>
#include <QFileDevice>
#include <QIODevice>

#include <tuple>

JsonlWriter::JsonlWriter(QIODevice *device)
    : m_device(device)
{
}

QString JsonlWriter::isoTime(qint64 msSinceEpoch)
{
    return QDateTime::fromMSecsSinceEpoch(msSinceEpoch, Qt::UTC).toString(Qt::ISODateWithMs);
}

QByteArray JsonlWriter::openedLine(const ConnectionRecord &record)
{
    return JsonLine()
        .add("event", QStringLiteral("connection_opened"))
        .add("id", qint64(record.id))
        .add("client", record.client)
        // An HTTP proxy's connection opens without an upstream: its requests
        // name them, each in its exchange and the last in connection_closed.
        .addRaw("upstream", record.httpProxy || record.upstream.isEmpty() ? QByteArray("null")
                                                                          : JsonLine::quoted(record.upstream))
        .add("time", isoTime(record.openedMs))
        .finish();
}

namespace {

QByteArray objectJson(const JsonLine &line)
{
    QByteArray object = line.finish();
    object.chop(1); // the line's newline
    return object;
}

QByteArray tlsJson(const TlsDetails &tls)
{
    JsonLine object;
    object.add("version", tls.version).add("cipher", tls.cipher);
    if (!tls.alpn.isEmpty())
        object.add("alpn", tls.alpn);
    if (!tls.serverName.isEmpty())
        object.add("sni", tls.serverName);
    object.add("handshake_ms", qint64(tls.handshakeMs));
    if (!tls.verification.isEmpty())
        object.add("verification", tls.verification);
    if (!tls.chainPem.isEmpty())
        object.add("chain_pem", QString::fromLatin1(tls.chainPem));
    return objectJson(object);
}

QByteArray timelineJson(const ConnectionTimeline &timeline)
{
    QByteArray array = "[";
    for (const TimelineMark &mark : timeline.marks) {
        if (array.size() > 1)
            array += ',';
        JsonLine object;
        object.addMs("t", mark.atUs)
            .add("lane", TimelineMark::laneName(mark.lane))
            .add("mark", TimelineMark::kindName(mark.kind));
        if (mark.code != 0 && mark.kind != TimelineMark::Kind::Closed)
            object.add("errno", qint64(mark.code));
        if (!mark.note.isEmpty())
            object.add("note", mark.note);
        array += objectJson(object);
    }
    array += ']';
    return array;
}

QByteArray timingJson(const ConnectionRecord &record)
{
    const ConnectionTimeline &timeline = record.timeline;
    JsonLine object;
    for (const TimeBreakdown::Part &part : TimeBreakdown::of(record))
        object.addMs(part.key, part.us);
    if (timeline.lastByteUs[0] >= 0)
        object.addMs("last_byte_up_ms", timeline.lastByteUs[0]);
    if (timeline.lastByteUs[1] >= 0)
        object.addMs("last_byte_down_ms", timeline.lastByteUs[1]);
    if (timeline.waitingSinceUs[0] >= 0)
        object.addMs("waiting_up_since_ms", timeline.waitingSinceUs[0]);
    if (timeline.waitingSinceUs[1] >= 0)
        object.addMs("waiting_down_since_ms", timeline.waitingSinceUs[1]);
    if (timeline.unmarked > 0)
        object.add("unmarked", qint64(timeline.unmarked));
    return objectJson(object);
}

} // namespace

QByteArray JsonlWriter::closedLine(const ConnectionRecord &record, bool bodies)
{
    return recordLine("connection_closed", record, bodies);
}

QByteArray JsonlWriter::snapshotLine(const ConnectionRecord &record, bool bodies)
{
    return recordLine("connection_snapshot", record, bodies);
}

QByteArray JsonlWriter::recordLine(const char *event, const ConnectionRecord &record, bool bodies)
{
    const bool closed = record.isClosed();
    JsonLine line;
    line.add("event", QString::fromLatin1(event))
        .add("id", qint64(record.id));
    if (!closed)
        line.add("state", ConnectionRecord::stateName(record.state));
    line.add("bytes_up", qint64(record.bytesUp))
        .add("bytes_down", qint64(record.bytesDown))
        .add("close", ConnectionRecord::closeReasonName(record.closeReason));
    if (record.httpProxy)
        line.addRaw("http_proxy", "true");
    // Named again at the end: an HTTP proxy's connection learns it late,
    // and it is the last one a keep-alive client used.
    if (!record.upstream.isEmpty())
        line.add("upstream", record.upstream);
    if (!record.error.isEmpty())
        line.add("error", record.error);
    if (!record.upstreamAddress.isEmpty())
        line.add("upstream_address", record.upstreamAddress);
    if (!record.acceptedOn.isEmpty())
        line.add("accepted_on", record.acceptedOn);
    if (!record.upstreamFrom.isEmpty())
        line.add("upstream_from", record.upstreamFrom);
    if (record.decryption != ConnectionRecord::Decryption::None) {
        line.add("decryption", ConnectionRecord::decryptionName(record.decryption));
        if (!record.decryptionNote.isEmpty())
            line.add("decryption_note", record.decryptionNote);
    }
    if (!record.clientTls().isEmpty())
        line.addRaw("client_tls", tlsJson(record.clientTls()));
    if (!record.upstreamTls().isEmpty())
        line.addRaw("upstream_tls", tlsJson(record.upstreamTls()));
    if (record.tlsTruncated)
        line.addRaw("tls_truncated", "true");
    if (!record.conditions.isEmpty())
        line.add("conditions", record.conditions);
    line.add("requests", qint64(record.requests));
    if (record.raw) {
        const auto bytes = bodies ? &JsonLine::exactBytes : &JsonLine::quotedBytes;
        line.addRaw("raw", "true")
            .addRaw("client_first_bytes", bytes(record.clientPrefix))
            .addRaw("upstream_first_bytes", bytes(record.upstreamPrefix));
        // The reads that brought them, so that the two directions can be put
        // back in the order they crossed: [from, t in ms, bytes].
        QByteArray reads = "[";
        for (const RawRead &read : record.rawReads) {
            if (reads.size() > 1)
                reads += ',';
            reads += read.fromClient ? "[\"client\"," : "[\"upstream\",";
            reads += JsonLine::milliseconds(read.atUs) + ',' + QByteArray::number(read.bytes) + ']';
        }
        line.addRaw("reads", reads + ']');
        if (record.rawReadsCut)
            line.addRaw("reads_cut", "true");
    }
    if (!record.timeline.isEmpty())
        line.addRaw("timeline", timelineJson(record.timeline)).addRaw("timing", timingJson(record));
    if (!closed)
        return line.finish();
    return line.add("time", isoTime(record.closedMs))
        .add("duration_ms", qMax<qint64>(0, record.closedMs - record.openedMs))
        .finish();
}

void JsonlWriter::writeListening(const ListenerInfo &listener)
{
    write(JsonLine()
              .add("event", QStringLiteral("listening"))
              .add("address", listener.address)
              .add("mode", listener.mode)
              .addRaw("target", listener.target.isEmpty() ? QByteArray("null") : JsonLine::quoted(listener.target))
              .add("time", isoTime(QDateTime::currentMSecsSinceEpoch()))
              .finish());
}

namespace {

QByteArray headersJson(const HttpHead &head)
{
    QByteArray out("[");
    for (const HttpHead::Header &header : head.headers) {
        if (out.size() > 1)
            out.append(',');
        out.append('[').append(JsonLine::quotedBytes(head.name(header))).append(',');
        out.append(JsonLine::quotedBytes(head.value(header))).append(']');
    }
    return out.append(']');
}

QByteArray requestJson(const HttpHead &head)
{
    JsonLine object;
    object.addRaw("method", JsonLine::quotedBytes(head.method()))
        .addRaw("target", JsonLine::quotedBytes(head.target()))
        .addRaw("version", JsonLine::quotedBytes(head.version()))
        .addRaw("headers", headersJson(head));
    return objectJson(object);
}

QByteArray responseJson(const HttpHead &head)
{
    JsonLine object;
    object.addRaw("version", JsonLine::quotedBytes(head.version()))
        .add("status", qint64(head.status))
        .addRaw("reason", JsonLine::quotedBytes(head.reason()))
        .addRaw("headers", headersJson(head));
    return objectJson(object);
}

QByteArray timeOrNull(qint64 ms)
{
    return ms ? JsonLine::quoted(JsonlWriter::isoTime(ms)) : QByteArray("null");
}

} // namespace

QByteArray JsonlWriter::exchangeLine(const HttpExchange &exchange, bool bodies)
{
    QByteArray interim("[");
    for (const HttpHead &head : exchange.interim) {
        if (interim.size() > 1)
            interim.append(',');
        interim.append(responseJson(head));
    }
    interim.append(']');
    HttpHead flagHolder;
    flagHolder.flags = exchange.flags;
    QByteArray flags("[");
    for (const QByteArray &name : flagHolder.flagNames()) {
        if (flags.size() > 1)
            flags.append(',');
        flags.append(JsonLine::quotedBytes(name));
    }
    flags.append(']');
    JsonLine timings;
    timings.addRaw("request_start", timeOrNull(exchange.requestStartMs))
        .addRaw("request_complete", timeOrNull(exchange.requestCompleteMs))
        .addRaw("response_start", timeOrNull(exchange.responseStartMs))
        .addRaw("response_complete", timeOrNull(exchange.responseCompleteMs));
    JsonLine line;
    line.add("event", QStringLiteral("exchange"))
        .add("connection", qint64(exchange.connectionId))
        .add("sequence", qint64(exchange.sequence))
        .addRaw("url", exchange.request.isEmpty() ? QByteArray("null") : JsonLine::quotedBytes(exchange.url()))
        .addRaw("secure", exchange.secure ? "true" : "false")
        .addRaw("request", exchange.request.isEmpty() ? QByteArray("null") : requestJson(exchange.request))
        .addRaw("response", exchange.hasResponse() ? responseJson(exchange.response) : QByteArray("null"))
        .addRaw("interim", interim)
        .add("request_body_bytes", qint64(exchange.requestBodyBytes))
        .add("response_body_bytes", qint64(exchange.responseBodyBytes))
        .addRaw("timings", objectJson(timings))
        .addRaw("flags", flags)
        .addRaw("complete", exchange.complete ? "true" : "false")
        .addRaw("tunnel", exchange.tunnel ? "true" : "false");
    if (bodies) {
        QByteArray interimHeads("[");
        for (const HttpHead &head : exchange.interim) {
            if (interimHeads.size() > 1)
                interimHeads.append(',');
            interimHeads.append(JsonLine::exactBytes(head.raw));
        }
        interimHeads.append(']');
        const auto framing = [](const ChunkFraming &framing) {
            QByteArray lines("[");
            for (const ChunkFraming::Line &item : framing.lines()) {
                if (lines.size() > 1)
                    lines.append(',');
                lines.append('[').append(QByteArray::number(item.at)).append(',');
                lines.append(JsonLine::exactBytes(item.bytes)).append(']');
            }
            return lines.append(']');
        };
        for (const auto &[name, cutName, side] : {std::tuple{"request_framing", "request_framing_cut_at", &exchange.requestFraming},
                                                  std::tuple{"response_framing", "response_framing_cut_at", &exchange.responseFraming}}) {
            if (side->isEmpty())
                continue;
            line.addRaw(name, framing(*side));
            if (side->isCut())
                line.add(cutName, qint64(side->cutAt()));
        }
        line.addRaw("request_head", JsonLine::exactBytes(exchange.request.raw))
            .addRaw("interim_heads", interimHeads)
            .addRaw("response_head", JsonLine::exactBytes(exchange.response.raw))
            .addRaw("request_body", JsonLine::exactBytes(exchange.requestBody))
            .addRaw("response_body", JsonLine::exactBytes(exchange.responseBody));
    }
    return line.finish();
}

void JsonlWriter::announce(const ConnectionRecord &record, QByteArray *out)
{
    if (m_open.contains(record.id))
        return;
    *out += openedLine(record);
    m_open.insert(record.id);
}

void JsonlWriter::writeBatch(const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges)
{
    QByteArray out;
    const bool filtered = !m_filter.isEmpty();
    for (const ConnectionRecord &record : records) {
        if (filtered || m_sampling)
            m_live.insert(record.id, record);
        if (!filtered || m_filter.matchesConnection(record))
            announce(record, &out);
        if (m_open.contains(record.id))
            announceFaults(record, &out);
    }
    for (const HttpExchange &exchange : exchanges) {
        if (filtered) {
            const auto known = m_live.constFind(exchange.connectionId);
            const ConnectionRecord *record = known == m_live.cend() ? nullptr : &*known;
            if (!m_filter.matchesExchange(exchange, record))
                continue;
            if (record)
                announce(*record, &out);
        }
        out += exchangeLine(exchange, m_bodies);
    }
    for (const ConnectionRecord &record : records) {
        if (!record.isClosed())
            continue;
        m_live.remove(record.id);
        m_lastSample.remove(record.id);
        m_faultsWritten.remove(record.id);
        if (m_open.remove(record.id))
            out += closedLine(record, m_bodies);
    }
    write(out);
}

void JsonlWriter::announceFaults(const ConnectionRecord &record, QByteArray *out)
{
    int seen = 0;
    for (const TimelineMark &mark : record.timeline.marks) {
        if (mark.kind != TimelineMark::Kind::Fault)
            continue;
        if (++seen <= m_faultsWritten.value(record.id))
            continue;
        *out += faultLine(record, mark);
        m_faultsWritten[record.id] = seen;
    }
}

QByteArray JsonlWriter::faultLine(const ConnectionRecord &record, const TimelineMark &mark)
{
    return JsonLine()
        .add("event", QStringLiteral("fault"))
        .add("connection", qint64(record.id))
        .addRaw("t", JsonLine::milliseconds(mark.atUs))
        .add("what", mark.note)
        .add("time", isoTime(record.openedMs + mark.atUs / 1000))
        .finish();
}

void JsonlWriter::writeSamples()
{
    QByteArray out;
    for (const ConnectionRecord &record : std::as_const(m_live)) {
        if (!m_open.contains(record.id) || record.isClosed())
            continue;
        const ConnectionTimeline &timeline = record.timeline;
        Sample &last = m_lastSample[record.id];
        // The rate over the time between the records the two samples saw;
        // a connection that sent no record since moved no bytes.
        const qint64 spanUs = timeline.sampledUs - last.atUs;
        const auto rate = [spanUs](quint64 now, quint64 before) {
            return spanUs > 0 ? qint64(double(now - qMin(now, before)) * 1e6 / double(spanUs)) : qint64(0);
        };
        JsonLine line;
        line.add("event", QStringLiteral("connection_sample"))
            .add("id", qint64(record.id))
            .addMs("t", timeline.sampledUs)
            .add("state", ConnectionRecord::stateName(record.state))
            .add("bytes_up", qint64(record.bytesUp))
            .add("bytes_down", qint64(record.bytesDown))
            .add("up_bytes_per_s", rate(record.bytesUp, last.up))
            .add("down_bytes_per_s", rate(record.bytesDown, last.down));
        if (timeline.waitingSinceUs[0] >= 0)
            line.addMs("waiting_up_since_ms", timeline.waitingSinceUs[0]);
        if (timeline.waitingSinceUs[1] >= 0)
            line.addMs("waiting_down_since_ms", timeline.waitingSinceUs[1]);
        out += line.finish();
        if (spanUs > 0)
            last = {timeline.sampledUs, record.bytesUp, record.bytesDown};
    }
    write(out);
}

void JsonlWriter::writeNotice(const QString &message)
{
    write(JsonLine()
              .add("event", QStringLiteral("notice"))
              .add("message", message)
              .add("time", isoTime(QDateTime::currentMSecsSinceEpoch()))
              .finish());
}

void JsonlWriter::writeStopped()
{
    write(JsonLine()
              .add("event", QStringLiteral("stopped"))
              .add("time", isoTime(QDateTime::currentMSecsSinceEpoch()))
              .finish());
}

void JsonlWriter::write(const QByteArray &bytes)
{
    if (bytes.isEmpty() || !m_device)
        return;
    m_device->write(bytes);
    if (auto *file = qobject_cast<QFileDevice *>(m_device))
        file->flush();
}
