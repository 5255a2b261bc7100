#include "sessionreader.h"

#include "captureexport.h"
#include "harreader.h"
#include "httpheadparser.h"

#include <QDateTime>
#include <QFile>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <tuple>

namespace {

qint64 msOf(const QJsonValue &value)
{
    if (!value.isString())
        return 0;
    return QDateTime::fromString(value.toString(), Qt::ISODateWithMs).toMSecsSinceEpoch();
}

// JsonLine::exactBytes read back: a string's UTF-8, or an object's base64.
// A string written by quotedBytes (a stream without --bodies) comes back as
// its text, \xNN escapes and all: the best there is.
QByteArray bytesOf(const QJsonValue &value)
{
    if (value.isObject())
        return QByteArray::fromBase64(value.toObject().value(QLatin1String("base64")).toString().toLatin1());
    return value.toString().toUtf8();
}

template<typename Enum>
bool enumNamed(const QString &name, QString (*nameOf)(Enum), int count, Enum *out)
{
    for (int i = 0; i < count; ++i) {
        if (nameOf(Enum(i)) == name) {
            *out = Enum(i);
            return true;
        }
    }
    return false;
}

TlsDetails tlsOf(const QJsonValue &value)
{
    TlsDetails tls;
    const QJsonObject object = value.toObject();
    tls.version = object.value(QLatin1String("version")).toString();
    tls.cipher = object.value(QLatin1String("cipher")).toString();
    tls.alpn = object.value(QLatin1String("alpn")).toString();
    tls.serverName = object.value(QLatin1String("sni")).toString();
    tls.handshakeMs = object.value(QLatin1String("handshake_ms")).toInt(-1);
    tls.verification = object.value(QLatin1String("verification")).toString();
    tls.chainPem = object.value(QLatin1String("chain_pem")).toString().toLatin1();
    return tls;
}

bool isCompleteHead(const QByteArray &raw)
{
    return raw.endsWith("\r\n\r\n") || raw.endsWith("\n\n");
}

// A head from its raw bytes, parsed as the capture parsed it.
HttpHead headOf(const QByteArray &raw, HttpHead::Kind kind)
{
    if (raw.isEmpty())
        return HttpHead();
    return HttpHeadParser::parse(raw, kind, HttpHeadParser::Limits().maxHeaders, !isCompleteHead(raw));
}

// A stream without --bodies has the parsed head only: its bytes are
// rebuilt from it (CRLF line ends, one space after each colon).
QByteArray rebuiltHead(const QJsonObject &object, HttpHead::Kind kind)
{
    QByteArray raw;
    if (kind == HttpHead::Kind::Request) {
        raw = object.value(QLatin1String("method")).toString().toUtf8() + ' '
            + object.value(QLatin1String("target")).toString().toUtf8() + ' '
            + object.value(QLatin1String("version")).toString().toUtf8();
    } else {
        raw = object.value(QLatin1String("version")).toString().toUtf8() + ' '
            + QByteArray::number(object.value(QLatin1String("status")).toInt()) + ' '
            + object.value(QLatin1String("reason")).toString().toUtf8();
    }
    raw += "\r\n";
    for (const QJsonValue &header : object.value(QLatin1String("headers")).toArray()) {
        const QJsonArray pair = header.toArray();
        raw += pair.at(0).toString().toUtf8() + ": " + pair.at(1).toString().toUtf8() + "\r\n";
    }
    return raw + "\r\n";
}

qint64 usOf(const QJsonValue &value, qint64 absent = -1)
{
    return value.isDouble() ? qRound64(value.toDouble() * 1000) : absent;
}

// The marks and totals connection_closed wrote; false for a mark it
// cannot name.
bool readTimeline(const QJsonObject &object, ConnectionTimeline *timeline)
{
    for (const QJsonValue &entry : object.value(QLatin1String("timeline")).toArray()) {
        const QJsonObject markObject = entry.toObject();
        TimelineMark mark;
        if (!TimelineMark::kindNamed(markObject.value(QLatin1String("mark")).toString(), &mark.kind))
            return false;
        const QString lane = markObject.value(QLatin1String("lane")).toString();
        mark.lane = lane == QLatin1String("client") ? TimelineMark::Lane::Client
                    : lane == QLatin1String("upstream") ? TimelineMark::Lane::Upstream
                                                        : TimelineMark::Lane::Connection;
        mark.atUs = usOf(markObject.value(QLatin1String("t")), 0);
        mark.code = markObject.value(QLatin1String("errno")).toInt();
        mark.note = markObject.value(QLatin1String("note")).toString();
        timeline->marks.append(mark);
    }
    const QJsonObject timing = object.value(QLatin1String("timing")).toObject();
    timeline->resolveUs = usOf(timing.value(QLatin1String("dns_ms")));
    timeline->connectUs = usOf(timing.value(QLatin1String("connect_ms")));
    timeline->waitedUs[0] = usOf(timing.value(QLatin1String("queued_up_ms")), 0);
    timeline->waitedUs[1] = usOf(timing.value(QLatin1String("queued_down_ms")), 0);
    timeline->lastByteUs[0] = usOf(timing.value(QLatin1String("last_byte_up_ms")));
    timeline->lastByteUs[1] = usOf(timing.value(QLatin1String("last_byte_down_ms")));
    timeline->waitingSinceUs[0] = usOf(timing.value(QLatin1String("waiting_up_since_ms")));
    timeline->waitingSinceUs[1] = usOf(timing.value(QLatin1String("waiting_down_since_ms")));
    timeline->unmarked = quint32(timing.value(QLatin1String("unmarked")).toInteger());
    if (!timeline->marks.isEmpty())
        timeline->sampledUs = timeline->marks.constLast().atUs;
    return true;
}

} // namespace

SessionReader::Result SessionReader::readFile(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        Result result;
        result.error = QStringLiteral("cannot read %1: %2").arg(path, file.errorString());
        return result;
    }
    return read(file.readAll());
}

SessionReader::Result SessionReader::read(const QByteArray &contents)
{
    Result result;
    // Ours start with a line that is an object with an "event"; anything
    // else that starts as JSON may be a HAR file, one document with a log
    // (indented, or all on one line).
    const qsizetype firstEnd = contents.indexOf('\n');
    const QJsonDocument firstLine = QJsonDocument::fromJson(firstEnd < 0 ? contents : contents.left(firstEnd));
    if (contents.trimmed().startsWith('{') && !firstLine.object().contains(QLatin1String("event"))) {
        result = HarReader::read(contents);
        result.kind = QStringLiteral("har");
        return result;
    }

    QHash<quint64, qsizetype> rowOf;
    qint64 expectedConnections = -1;
    qint64 expectedExchanges = -1;
    int lineNumber = 0;
    const auto fail = [&](const QString &why) {
        Result failed;
        failed.error = lineNumber > 0 ? QStringLiteral("line %1: %2").arg(lineNumber).arg(why) : why;
        return failed;
    };
    qsizetype at = 0;
    while (at < contents.size()) {
        ++lineNumber;
        const qsizetype end = contents.indexOf('\n', at);
        if (end < 0)
            return fail(QStringLiteral("the line has no end: the file was cut short"));
        const QByteArray line = contents.sliced(at, end - at);
        at = end + 1;
        if (line.trimmed().isEmpty())
            continue;
        QJsonParseError parseError;
        const QJsonDocument document = QJsonDocument::fromJson(line, &parseError);
        if (!document.isObject()) {
            if (lineNumber == 1)
                return fail(QStringLiteral("not a proxymon session, JSONL stream or HAR file"));
            return fail(parseError.error != QJsonParseError::NoError
                            ? QStringLiteral("not JSON at column %1: %2").arg(parseError.offset + 1).arg(parseError.errorString())
                            : QStringLiteral("not a JSON object"));
        }
        const QJsonObject object = document.object();
        const QString event = object.value(QLatin1String("event")).toString();
        if (lineNumber == 1) {
            if (event == QLatin1String("session")) {
                const QString format = object.value(QLatin1String("format")).toString();
                if (format != QLatin1String(CaptureExport::sessionFormat()))
                    return fail(QStringLiteral("a session of an unknown format (%1)").arg(format));
                expectedConnections = object.value(QLatin1String("connections")).toInteger(-1);
                expectedExchanges = object.value(QLatin1String("exchanges")).toInteger(-1);
                result.kind = QStringLiteral("session");
                continue;
            }
            if (event != QLatin1String("listening") && event != QLatin1String("connection_opened"))
                return fail(QStringLiteral("not a proxymon session, JSONL stream or HAR file"));
            result.kind = QStringLiteral("jsonl");
        }
        if (event == QLatin1String("connection_opened")) {
            ConnectionRecord record;
            record.id = quint64(object.value(QLatin1String("id")).toInteger());
            if (record.id == 0 || rowOf.contains(record.id))
                return fail(QStringLiteral("a connection without a new id"));
            record.client = object.value(QLatin1String("client")).toString();
            record.upstream = object.value(QLatin1String("upstream")).toString();
            record.openedMs = msOf(object.value(QLatin1String("time")));
            record.state = ConnectionRecord::State::Open;
            rowOf.insert(record.id, result.records.size());
            result.records.append(record);
        } else if (event == QLatin1String("exchange")) {
            HttpExchange exchange;
            const QString error = readExchange(object, &exchange);
            if (!error.isEmpty())
                return fail(error);
            if (!rowOf.contains(exchange.connectionId))
                return fail(QStringLiteral("an exchange of connection %1, which was never opened").arg(exchange.connectionId));
            result.exchanges.append(exchange);
        } else if (event == QLatin1String("connection_closed") || event == QLatin1String("connection_snapshot")) {
            const auto row = rowOf.constFind(quint64(object.value(QLatin1String("id")).toInteger()));
            if (row == rowOf.cend())
                return fail(QStringLiteral("the end of a connection that was never opened"));
            const QString error = readRecordFields(object, &result.records[*row]);
            if (!error.isEmpty())
                return fail(error);
        }
        // listening, notice, stopped: nothing to show.
    }
    lineNumber = 0;
    if (result.kind.isEmpty())
        return fail(QStringLiteral("the file is empty"));
    if (expectedConnections >= 0
        && (result.records.size() != expectedConnections || result.exchanges.size() != expectedExchanges)) {
        return fail(QStringLiteral("the file was cut short: it holds %1 of %2 connections and %3 of %4 exchanges")
                        .arg(result.records.size())
                        .arg(expectedConnections)
                        .arg(result.exchanges.size())
                        .arg(expectedExchanges));
    }
    return result;
}

QString SessionReader::readRecordFields(const QJsonObject &object, ConnectionRecord *record)
{
    record->bytesUp = quint64(object.value(QLatin1String("bytes_up")).toInteger());
    record->bytesDown = quint64(object.value(QLatin1String("bytes_down")).toInteger());
    if (!enumNamed(object.value(QLatin1String("close")).toString(), &ConnectionRecord::closeReasonName,
                   int(ConnectionRecord::CloseReason::Fault) + 1, &record->closeReason))
        return QStringLiteral("an unknown close reason");
    if (object.contains(QLatin1String("upstream")))
        record->upstream = object.value(QLatin1String("upstream")).toString();
    record->error = object.value(QLatin1String("error")).toString();
    record->upstreamAddress = object.value(QLatin1String("upstream_address")).toString();
    record->acceptedOn = object.value(QLatin1String("accepted_on")).toString();
    record->upstreamFrom = object.value(QLatin1String("upstream_from")).toString();
    record->httpProxy = object.value(QLatin1String("http_proxy")).toBool();
    if (object.contains(QLatin1String("decryption"))
        && !enumNamed(object.value(QLatin1String("decryption")).toString(), &ConnectionRecord::decryptionName,
                      int(ConnectionRecord::Decryption::Rejected) + 1, &record->decryption))
        return QStringLiteral("an unknown decryption");
    record->decryptionNote = object.value(QLatin1String("decryption_note")).toString();
    record->conditions = object.value(QLatin1String("conditions")).toString();
    record->setClientTls(tlsOf(object.value(QLatin1String("client_tls"))));
    record->setUpstreamTls(tlsOf(object.value(QLatin1String("upstream_tls"))));
    record->tlsTruncated = object.value(QLatin1String("tls_truncated")).toBool();
    record->requests = quint32(object.value(QLatin1String("requests")).toInteger());
    record->raw = object.value(QLatin1String("raw")).toBool();
    record->clientPrefix = bytesOf(object.value(QLatin1String("client_first_bytes")));
    record->upstreamPrefix = bytesOf(object.value(QLatin1String("upstream_first_bytes")));
    record->rawReads.clear();
    for (const QJsonValue &entry : object.value(QLatin1String("reads")).toArray()) {
        const QJsonArray read = entry.toArray();
        const QString from = read.at(0).toString();
        if (read.size() != 3 || (from != QLatin1String("client") && from != QLatin1String("upstream")) || read.at(2).toInt() <= 0)
            return QStringLiteral("a read that is not [\"client\"|\"upstream\", ms, bytes]");
        record->rawReads.append({usOf(read.at(1), 0), read.at(2).toInt(), from == QLatin1String("client")});
    }
    record->rawReadsCut = object.value(QLatin1String("reads_cut")).toBool();
    record->timeline = ConnectionTimeline();
    if (!readTimeline(object, &record->timeline))
        return QStringLiteral("an unknown mark in the timeline");
    if (object.value(QLatin1String("event")).toString() == QLatin1String("connection_snapshot")) {
        if (!enumNamed(object.value(QLatin1String("state")).toString(), &ConnectionRecord::stateName,
                       int(ConnectionRecord::State::Closed), &record->state))
            return QStringLiteral("an unknown state");
        return QString();
    }
    record->state = ConnectionRecord::State::Closed;
    record->closedMs = msOf(object.value(QLatin1String("time")));
    return QString();
}

QString SessionReader::readExchange(const QJsonObject &object, HttpExchange *exchange)
{
    exchange->connectionId = quint64(object.value(QLatin1String("connection")).toInteger());
    exchange->sequence = object.value(QLatin1String("sequence")).toInt();
    exchange->secure = object.value(QLatin1String("secure")).toBool();
    const QJsonValue request = object.value(QLatin1String("request"));
    const QJsonValue response = object.value(QLatin1String("response"));
    if (object.contains(QLatin1String("request_head"))) {
        exchange->request = headOf(bytesOf(object.value(QLatin1String("request_head"))), HttpHead::Kind::Request);
        exchange->response = headOf(bytesOf(object.value(QLatin1String("response_head"))), HttpHead::Kind::Response);
        for (const QJsonValue &head : object.value(QLatin1String("interim_heads")).toArray())
            exchange->interim.append(headOf(bytesOf(head), HttpHead::Kind::Response));
        exchange->requestBody = bytesOf(object.value(QLatin1String("request_body")));
        exchange->responseBody = bytesOf(object.value(QLatin1String("response_body")));
        for (const auto &[name, cutName, side] :
             {std::tuple{"request_framing", "request_framing_cut_at", &exchange->requestFraming},
              std::tuple{"response_framing", "response_framing_cut_at", &exchange->responseFraming}}) {
            for (const QJsonValue &item : object.value(QLatin1String(name)).toArray()) {
                const QJsonArray pair = item.toArray();
                side->append({quint64(pair.at(0).toInteger()), bytesOf(pair.at(1))});
            }
            if (object.contains(QLatin1String(cutName)))
                side->markCut(quint64(object.value(QLatin1String(cutName)).toInteger()));
        }
    } else {
        if (request.isObject())
            exchange->request = headOf(rebuiltHead(request.toObject(), HttpHead::Kind::Request), HttpHead::Kind::Request);
        if (response.isObject())
            exchange->response = headOf(rebuiltHead(response.toObject(), HttpHead::Kind::Response), HttpHead::Kind::Response);
        for (const QJsonValue &head : object.value(QLatin1String("interim")).toArray())
            exchange->interim.append(headOf(rebuiltHead(head.toObject(), HttpHead::Kind::Response), HttpHead::Kind::Response));
    }
    if (request.isObject() && exchange->request.isEmpty())
        return QStringLiteral("an exchange whose request head cannot be read");
    exchange->requestBodyBytes = quint64(object.value(QLatin1String("request_body_bytes")).toInteger());
    exchange->responseBodyBytes = quint64(object.value(QLatin1String("response_body_bytes")).toInteger());
    const QJsonObject timings = object.value(QLatin1String("timings")).toObject();
    exchange->requestStartMs = msOf(timings.value(QLatin1String("request_start")));
    exchange->requestCompleteMs = msOf(timings.value(QLatin1String("request_complete")));
    exchange->responseStartMs = msOf(timings.value(QLatin1String("response_start")));
    exchange->responseCompleteMs = msOf(timings.value(QLatin1String("response_complete")));
    for (const QJsonValue &flag : object.value(QLatin1String("flags")).toArray())
        exchange->flags |= HttpHead::flagNamed(flag.toString().toLatin1());
    exchange->complete = object.value(QLatin1String("complete")).toBool();
    exchange->tunnel = object.value(QLatin1String("tunnel")).toBool();
    return QString();
}
