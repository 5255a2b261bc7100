#include "harreader.h"

#include "httpheadparser.h"

#include <QDateTime>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QUrl>

#include <algorithm>

namespace {

qint64 msOf(const QJsonValue &value)
{
    return QDateTime::fromString(value.toString(), Qt::ISODateWithMs).toMSecsSinceEpoch();
}

QString field(const QJsonObject &object, const char *name)
{
    return object.value(QLatin1String(name)).toString();
}

qint64 number(const QJsonObject &object, const char *name, qint64 otherwise = 0)
{
    const QJsonValue value = object.value(QLatin1String(name));
    return value.isDouble() ? qint64(value.toDouble()) : otherwise;
}

HttpHead headOf(const QByteArray &startLine, const QJsonArray &headers, HttpHead::Kind kind)
{
    QByteArray raw = startLine + "\r\n";
    for (const QJsonValue &header : headers) {
        const QJsonObject pair = header.toObject();
        raw += field(pair, "name").toUtf8() + ": " + field(pair, "value").toUtf8() + "\r\n";
    }
    raw += "\r\n";
    return HttpHeadParser::parse(raw, kind, HttpHeadParser::Limits().maxHeaders, false);
}

// The bytes proxymon kept (its own HAR keeps them when it decoded them),
// else the text as HAR gives it.
QByteArray bodyOf(const QJsonObject &object)
{
    if (object.contains(QLatin1String("_encodedBase64")))
        return QByteArray::fromBase64(field(object, "_encodedBase64").toLatin1());
    if (field(object, "encoding") == QLatin1String("base64"))
        return QByteArray::fromBase64(field(object, "text").toLatin1());
    return field(object, "text").toUtf8();
}

QString authorityOf(const QUrl &url)
{
    const int port = url.port(url.scheme() == QLatin1String("https") ? 443 : 80);
    const QString host = url.host().contains(QLatin1Char(':')) ? QLatin1Char('[') + url.host() + QLatin1Char(']')
                                                               : url.host();
    return host + QLatin1Char(':') + QString::number(port);
}

template<typename Enum>
Enum enumNamed(const QString &name, QString (*nameOf)(Enum), int count, Enum otherwise)
{
    for (int i = 0; i < count; ++i) {
        if (nameOf(Enum(i)) == name)
            return Enum(i);
    }
    return otherwise;
}

} // namespace

SessionReader::Result HarReader::read(const QByteArray &contents)
{
    SessionReader::Result result;
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(contents, &parseError);
    if (parseError.error != QJsonParseError::NoError) {
        // Where it went wrong, as a line and column an editor shows.
        const QByteArray before = contents.left(parseError.offset);
        result.error = QStringLiteral("not valid JSON at line %1, column %2: %3")
                           .arg(before.count('\n') + 1)
                           .arg(parseError.offset - before.lastIndexOf('\n'))
                           .arg(parseError.errorString());
        return result;
    }
    const QJsonObject log = document.object().value(QLatin1String("log")).toObject();
    if (!log.value(QLatin1String("entries")).isArray()) {
        result.error = QStringLiteral("not a proxymon session, JSONL stream or HAR file (no log.entries)");
        return result;
    }

    QHash<quint64, qsizetype> rowOf;
    quint64 nextId = 1;
    const auto recordFor = [&](quint64 id) -> ConnectionRecord & {
        if (!rowOf.contains(id)) {
            ConnectionRecord record;
            record.id = id;
            record.state = ConnectionRecord::State::Closed;
            rowOf.insert(id, result.records.size());
            result.records.append(record);
        }
        return result.records[rowOf.value(id)];
    };

    // proxymon's own list: connections without entries, and tunnels.
    const QJsonArray others = log.value(QLatin1String("_proxymon")).toObject().value(QLatin1String("connections")).toArray();
    for (const QJsonValue &value : others) {
        const QJsonObject other = value.toObject();
        const quint64 id = quint64(number(other, "id"));
        if (id == 0)
            continue;
        ConnectionRecord &record = recordFor(id);
        record.client = field(other, "client");
        record.upstream = field(other, "upstream");
        record.state = enumNamed(field(other, "state"), &ConnectionRecord::stateName,
                                 int(ConnectionRecord::State::Closed) + 1, ConnectionRecord::State::Closed);
        record.closeReason = enumNamed(field(other, "close"), &ConnectionRecord::closeReasonName,
                                       int(ConnectionRecord::CloseReason::Fault) + 1, ConnectionRecord::CloseReason::None);
        record.bytesUp = quint64(number(other, "bytesUp"));
        record.bytesDown = quint64(number(other, "bytesDown"));
        record.openedMs = msOf(other.value(QLatin1String("opened")));
        if (other.contains(QLatin1String("closed")))
            record.closedMs = msOf(other.value(QLatin1String("closed")));
        record.raw = other.value(QLatin1String("raw")).toBool();
        record.error = field(other, "error");
        if (other.contains(QLatin1String("decryption")))
            record.decryption = enumNamed(field(other, "decryption"), &ConnectionRecord::decryptionName,
                                          int(ConnectionRecord::Decryption::Rejected) + 1,
                                          ConnectionRecord::Decryption::None);
        int sequence = 0;
        for (const QJsonValue &tunnel : other.value(QLatin1String("tunnels")).toArray()) {
            HttpExchange exchange;
            exchange.connectionId = id;
            exchange.sequence = ++sequence;
            exchange.request = headOf("CONNECT " + tunnel.toString().toUtf8() + " HTTP/1.1", {}, HttpHead::Kind::Request);
            exchange.tunnel = true;
            result.exchanges.append(exchange);
        }
    }

    for (const QJsonValue &entryValue : log.value(QLatin1String("entries")).toArray()) {
        const QJsonObject entry = entryValue.toObject();
        const QJsonObject own = entry.value(QLatin1String("_proxymon")).toObject();
        const QJsonObject request = entry.value(QLatin1String("request")).toObject();
        const QJsonObject response = entry.value(QLatin1String("response")).toObject();
        const QJsonObject timings = entry.value(QLatin1String("timings")).toObject();
        const QUrl url(field(request, "url"));

        quint64 id = quint64(number(own, "connection"));
        if (id == 0)
            id = field(entry, "connection").toULongLong();
        if (id == 0)
            id = 1'000'000'000 + nextId++; // one record per entry, clear of real ids
        ConnectionRecord &record = recordFor(id);
        if (record.upstream.isEmpty())
            record.upstream = authorityOf(url);
        if (entry.contains(QLatin1String("serverIPAddress")))
            record.upstreamAddress = field(entry, "serverIPAddress") + QLatin1Char(':') + authorityOf(url).section(QLatin1Char(':'), -1);

        HttpExchange exchange;
        exchange.connectionId = id;
        exchange.sequence = own.contains(QLatin1String("sequence")) ? own.value(QLatin1String("sequence")).toInt() : 1;
        exchange.secure = url.scheme() == QLatin1String("https");
        QString target = field(own, "target");
        if (target.isEmpty()) {
            target = QString::fromUtf8(url.path(QUrl::FullyEncoded).toUtf8());
            if (target.isEmpty())
                target = QStringLiteral("/");
            if (url.hasQuery())
                target += QLatin1Char('?') + url.query(QUrl::FullyEncoded);
        }
        exchange.request = headOf((field(request, "method") + QLatin1Char(' ') + target + QLatin1Char(' ')
                                   + field(request, "httpVersion")).toUtf8(),
                                  request.value(QLatin1String("headers")).toArray(), HttpHead::Kind::Request);
        if (exchange.request.isEmpty()) {
            result.error = QStringLiteral("an entry's request cannot be read (%1)").arg(field(request, "url"));
            result.records.clear();
            result.exchanges.clear();
            return result;
        }
        const QJsonObject postData = request.value(QLatin1String("postData")).toObject();
        exchange.requestBody = bodyOf(postData);
        exchange.requestBodyBytes = quint64(qMax<qint64>(number(request, "bodySize", -1), exchange.requestBody.size()));
        const int status = int(number(response, "status"));
        if (status > 0) {
            exchange.response = headOf(field(response, "httpVersion").toUtf8() + ' ' + QByteArray::number(status) + ' '
                                           + field(response, "statusText").toUtf8(),
                                       response.value(QLatin1String("headers")).toArray(), HttpHead::Kind::Response);
            const QJsonObject content = response.value(QLatin1String("content")).toObject();
            exchange.responseBody = bodyOf(content);
            exchange.responseBodyBytes = quint64(qMax<qint64>(number(response, "bodySize", -1), exchange.responseBody.size()));
        }

        const qint64 started = msOf(entry.value(QLatin1String("startedDateTime")));
        const auto phase = [&](const char *name) { return qMax<qint64>(number(timings, name, -1), 0); };
        const qint64 connect = number(timings, "connect", -1);
        if (connect >= 0 && (record.openedMs == 0 || started < record.openedMs)) {
            record.openedMs = started;
            const qint64 ssl = number(timings, "ssl", -1);
            if (ssl >= 0) {
                record.clientTlsToWrite().version = QStringLiteral("TLS");
                record.clientTlsToWrite().handshakeMs = qint32(ssl);
            }
        }
        exchange.requestStartMs = started + phase("blocked") + phase("dns") + phase("connect");
        exchange.requestCompleteMs = exchange.requestStartMs + phase("send");
        if (status > 0) {
            exchange.responseStartMs = exchange.requestCompleteMs + phase("wait");
            exchange.responseCompleteMs = exchange.responseStartMs + phase("receive");
        }
        if (record.openedMs == 0 || exchange.requestStartMs < record.openedMs)
            record.openedMs = started;
        record.closedMs = std::max(record.closedMs, std::max(exchange.responseCompleteMs, exchange.requestCompleteMs));
        exchange.complete = own.contains(QLatin1String("complete")) ? own.value(QLatin1String("complete")).toBool()
                                                                    : status > 0;
        for (const QJsonValue &flag : own.value(QLatin1String("flags")).toArray())
            exchange.flags |= HttpHead::flagNamed(flag.toString().toLatin1());
        const QString comment = field(entry, "comment");
        if (status == 0 && comment.startsWith(QLatin1String("no response: ")) && record.error.isEmpty())
            record.error = comment.mid(13).section(QLatin1Char(';'), 0, 0);
        record.requests += 1;
        result.exchanges.append(exchange);
    }
    // In id order, as a capture holds them; exchanges in request order.
    std::sort(result.records.begin(), result.records.end(),
              [](const ConnectionRecord &a, const ConnectionRecord &b) { return a.id < b.id; });
    std::stable_sort(result.exchanges.begin(), result.exchanges.end(), [](const HttpExchange &a, const HttpExchange &b) {
        return a.connectionId != b.connectionId ? a.connectionId < b.connectionId : a.sequence < b.sequence;
    });
    return result;
}
