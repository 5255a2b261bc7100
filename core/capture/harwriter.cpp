#include "harwriter.h"

#include "contentdecoder.h"
#include "jsonlwriter.h"

#include <QIODevice>
#include <QJsonArray>
#include <QJsonDocument>
#include <QUrl>
#include <QUrlQuery>

namespace {

QString text(QByteArrayView bytes)
{
    return QString::fromUtf8(bytes);
}

QJsonArray headersOf(const HttpHead &head)
{
    QJsonArray headers;
    for (const HttpHead::Header &header : head.headers)
        headers.append(QJsonObject{{QStringLiteral("name"), text(head.name(header))},
                                   {QStringLiteral("value"), text(head.value(header))}});
    return headers;
}

// "a=1; b=2" from Cookie headers.
QJsonArray requestCookies(const HttpHead &head)
{
    QJsonArray cookies;
    for (const QByteArrayView value : head.values("cookie")) {
        for (const QByteArray &pair : value.toByteArray().split(';')) {
            const QByteArray trimmed = pair.trimmed();
            if (trimmed.isEmpty())
                continue;
            const qsizetype equals = trimmed.indexOf('=');
            cookies.append(QJsonObject{{QStringLiteral("name"), text(equals < 0 ? trimmed : trimmed.left(equals))},
                                       {QStringLiteral("value"), equals < 0 ? QString() : text(trimmed.mid(equals + 1))}});
        }
    }
    return cookies;
}

// Set-Cookie: name=value; Path=/; HttpOnly ...
QJsonArray responseCookies(const HttpHead &head)
{
    QJsonArray cookies;
    for (const QByteArrayView value : head.values("set-cookie")) {
        const QList<QByteArray> parts = value.toByteArray().split(';');
        const QByteArray first = parts.value(0).trimmed();
        const qsizetype equals = first.indexOf('=');
        QJsonObject cookie{{QStringLiteral("name"), text(equals < 0 ? first : first.left(equals))},
                           {QStringLiteral("value"), equals < 0 ? QString() : text(first.mid(equals + 1))}};
        for (qsizetype i = 1; i < parts.size(); ++i) {
            const QByteArray attribute = parts[i].trimmed();
            const qsizetype eq = attribute.indexOf('=');
            const QByteArray name = (eq < 0 ? attribute : attribute.left(eq)).toLower();
            const QString attributeValue = eq < 0 ? QString() : text(attribute.mid(eq + 1));
            if (name == "path")
                cookie.insert(QStringLiteral("path"), attributeValue);
            else if (name == "domain")
                cookie.insert(QStringLiteral("domain"), attributeValue);
            else if (name == "expires")
                cookie.insert(QStringLiteral("expires"), attributeValue);
            else if (name == "httponly")
                cookie.insert(QStringLiteral("httpOnly"), true);
            else if (name == "secure")
                cookie.insert(QStringLiteral("secure"), true);
        }
        cookies.append(cookie);
    }
    return cookies;
}

QJsonArray queryOf(const QByteArray &url)
{
    QJsonArray query;
    const qsizetype mark = url.indexOf('?');
    if (mark < 0)
        return query;
    QByteArray rest = url.mid(mark + 1);
    const qsizetype hash = rest.indexOf('#');
    if (hash >= 0)
        rest.truncate(hash);
    for (const QByteArray &pair : rest.split('&')) {
        if (pair.isEmpty())
            continue;
        const qsizetype equals = pair.indexOf('=');
        const QByteArray name = equals < 0 ? pair : pair.left(equals);
        const QByteArray value = equals < 0 ? QByteArray() : pair.mid(equals + 1);
        query.append(QJsonObject{
            {QStringLiteral("name"), QUrl::fromPercentEncoding(QByteArray(name).replace('+', ' '))},
            {QStringLiteral("value"), QUrl::fromPercentEncoding(QByteArray(value).replace('+', ' '))}});
    }
    return query;
}

bool isUtf8Text(const QByteArray &bytes)
{
    if (QString::fromUtf8(bytes).toUtf8() != bytes)
        return false;
    for (const char c : bytes) {
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\r' && c != '\t')
            return false;
    }
    return true;
}

struct Body
{
    QJsonObject fields; // text or base64, and what was kept
    qint64 decodedSize = 0;
    QString comment;
};

// The body as HAR holds it: decoded, as text or base64; and what is known
// about how much of it there was.
Body bodyOf(const HttpHead &head, const QByteArray &kept, quint64 total, const char *side)
{
    Body body;
    const QByteArrayView encoding = head.value("content-encoding");
    QByteArray bytes = kept;
    bool complete = quint64(kept.size()) == total;
    if (!encoding.isEmpty() && !kept.isEmpty()) {
        const ContentDecoder::Result decoded = ContentDecoder::decode(kept, encoding);
        if (decoded.decoded) {
            bytes = decoded.bytes;
            complete = complete && decoded.complete && !decoded.capped;
            // What the decoding cannot give back: the encoded bytes.
            body.fields.insert(QStringLiteral("_encodedBase64"), QString::fromLatin1(kept.toBase64()));
        }
    }
    if (isUtf8Text(bytes)) {
        body.fields.insert(QStringLiteral("text"), QString::fromUtf8(bytes));
    } else {
        body.fields.insert(QStringLiteral("text"), QString::fromLatin1(bytes.toBase64()));
        body.fields.insert(QStringLiteral("encoding"), QStringLiteral("base64"));
    }
    body.decodedSize = complete ? bytes.size() : qint64(total);
    if (quint64(kept.size()) < total) {
        body.comment = QStringLiteral("%1 body truncated: proxymon kept %2 of %3 bytes")
                           .arg(QLatin1String(side))
                           .arg(kept.size())
                           .arg(total);
    }
    return body;
}

qint64 span(qint64 from, qint64 to)
{
    return from && to && to >= from ? to - from : 0;
}

QString hostOf(const QString &address)
{
    // "IP:PORT" or "[v6]:PORT"
    QString host = address.left(address.lastIndexOf(QLatin1Char(':')));
    if (host.startsWith(QLatin1Char('[')))
        host = host.mid(1, host.size() - 2);
    return host;
}

QJsonObject connectionSummary(const ConnectionRecord &record, const QList<HttpExchange> &tunnels)
{
    QJsonObject summary{{QStringLiteral("id"), qint64(record.id)},
                        {QStringLiteral("client"), record.client},
                        {QStringLiteral("upstream"), record.upstream},
                        {QStringLiteral("state"), ConnectionRecord::stateName(record.state)},
                        {QStringLiteral("close"), ConnectionRecord::closeReasonName(record.closeReason)},
                        {QStringLiteral("bytesUp"), qint64(record.bytesUp)},
                        {QStringLiteral("bytesDown"), qint64(record.bytesDown)},
                        {QStringLiteral("opened"), JsonlWriter::isoTime(record.openedMs)},
                        {QStringLiteral("raw"), record.raw}};
    if (record.closedMs)
        summary.insert(QStringLiteral("closed"), JsonlWriter::isoTime(record.closedMs));
    if (!record.error.isEmpty())
        summary.insert(QStringLiteral("error"), record.error);
    if (record.decryption != ConnectionRecord::Decryption::None)
        summary.insert(QStringLiteral("decryption"), ConnectionRecord::decryptionName(record.decryption));
    QJsonArray tunnelTargets;
    for (const HttpExchange &tunnel : tunnels)
        tunnelTargets.append(text(tunnel.url()));
    if (!tunnelTargets.isEmpty())
        summary.insert(QStringLiteral("tunnels"), tunnelTargets);
    return summary;
}

} // namespace

QJsonObject HarWriter::entry(const HttpExchange &exchange, const ConnectionRecord &record, bool firstOnConnection)
{
    const HttpHead &request = exchange.request;
    const HttpHead &response = exchange.response;
    const QByteArray url = exchange.url();

    QJsonObject harRequest{{QStringLiteral("method"), text(request.method())},
                           {QStringLiteral("url"), text(url)},
                           {QStringLiteral("httpVersion"), text(request.version())},
                           {QStringLiteral("cookies"), requestCookies(request)},
                           {QStringLiteral("headers"), headersOf(request)},
                           {QStringLiteral("queryString"), queryOf(url)},
                           {QStringLiteral("headersSize"), qint64(request.raw.size())},
                           {QStringLiteral("bodySize"), qint64(exchange.requestBodyBytes)}};
    QStringList comments;
    QJsonObject proxymon{{QStringLiteral("connection"), qint64(exchange.connectionId)},
                         {QStringLiteral("sequence"), exchange.sequence},
                         {QStringLiteral("target"), text(request.target())},
                         {QStringLiteral("complete"), exchange.complete}};
    if (exchange.requestBodyBytes > 0 || !exchange.requestBody.isEmpty()) {
        const Body body = bodyOf(request, exchange.requestBody, exchange.requestBodyBytes, "request");
        QJsonObject postData = body.fields;
        const QByteArrayView type = request.value("content-type");
        postData.insert(QStringLiteral("mimeType"), text(type));
        postData.insert(QStringLiteral("params"), QJsonArray());
        if (!body.comment.isEmpty()) {
            postData.insert(QStringLiteral("comment"), body.comment);
            comments.append(body.comment);
        }
        harRequest.insert(QStringLiteral("postData"), postData);
        proxymon.insert(QStringLiteral("requestBodyKept"), qint64(exchange.requestBody.size()));
    }

    QJsonObject harResponse;
    if (exchange.hasResponse()) {
        const Body body = bodyOf(response, exchange.responseBody, exchange.responseBodyBytes, "response");
        QJsonObject content = body.fields;
        content.insert(QStringLiteral("size"), body.decodedSize);
        if (body.decodedSize > qint64(exchange.responseBodyBytes))
            content.insert(QStringLiteral("compression"), body.decodedSize - qint64(exchange.responseBodyBytes));
        content.insert(QStringLiteral("mimeType"), text(response.value("content-type")));
        if (!body.comment.isEmpty()) {
            content.insert(QStringLiteral("comment"), body.comment);
            comments.append(body.comment);
        }
        harResponse = QJsonObject{{QStringLiteral("status"), response.status},
                                  {QStringLiteral("statusText"), text(response.reason())},
                                  {QStringLiteral("httpVersion"), text(response.version())},
                                  {QStringLiteral("cookies"), responseCookies(response)},
                                  {QStringLiteral("headers"), headersOf(response)},
                                  {QStringLiteral("content"), content},
                                  {QStringLiteral("redirectURL"), text(response.value("location"))},
                                  {QStringLiteral("headersSize"), qint64(response.raw.size())},
                                  {QStringLiteral("bodySize"), qint64(exchange.responseBodyBytes)}};
        proxymon.insert(QStringLiteral("responseBodyKept"), qint64(exchange.responseBody.size()));
    } else {
        // No answer (the connection ended first): HAR still wants a
        // response; status 0 is what browsers write for a failed request.
        harResponse = QJsonObject{{QStringLiteral("status"), 0},
                                  {QStringLiteral("statusText"), QString()},
                                  {QStringLiteral("httpVersion"), QString()},
                                  {QStringLiteral("cookies"), QJsonArray()},
                                  {QStringLiteral("headers"), QJsonArray()},
                                  {QStringLiteral("content"), QJsonObject{{QStringLiteral("size"), 0},
                                                                         {QStringLiteral("mimeType"), QString()}}},
                                  {QStringLiteral("redirectURL"), QString()},
                                  {QStringLiteral("headersSize"), -1},
                                  {QStringLiteral("bodySize"), -1}};
        comments.append(QStringLiteral("no response: %1").arg(record.error.isEmpty()
                                                                    ? ConnectionRecord::closeReasonName(record.closeReason)
                                                                    : record.error));
    }
    if (!exchange.complete && exchange.hasResponse())
        comments.append(QStringLiteral("the response did not end normally"));
    QJsonArray flags;
    HttpHead flagHolder;
    flagHolder.flags = exchange.flags;
    for (const QByteArray &name : flagHolder.flagNames())
        flags.append(QString::fromLatin1(name));
    if (!flags.isEmpty())
        proxymon.insert(QStringLiteral("flags"), flags);

    // Phases in whole milliseconds; the ones that did not happen are 0.
    const qint64 requestEnd = exchange.requestCompleteMs ? exchange.requestCompleteMs : exchange.requestStartMs;
    const qint64 send = span(exchange.requestStartMs, requestEnd);
    const qint64 wait = span(requestEnd, exchange.responseStartMs);
    const qint64 receive = span(exchange.responseStartMs, exchange.responseCompleteMs);
    qint64 connect = -1;
    qint64 ssl = -1;
    qint64 started = exchange.requestStartMs ? exchange.requestStartMs : record.openedMs;
    if (firstOnConnection && record.openedMs && exchange.requestStartMs) {
        // The two clocks are read apart: a request seen in the millisecond
        // of the accept may read as earlier.
        connect = qMax<qint64>(0, exchange.requestStartMs - record.openedMs);
        started = qMin(record.openedMs, exchange.requestStartMs);
        if (!record.clientTls().isEmpty() && record.clientTls().handshakeMs >= 0)
            ssl = qMin<qint64>(record.clientTls().handshakeMs, connect);
    }
    const QJsonObject timings{{QStringLiteral("blocked"), -1}, {QStringLiteral("dns"), -1},
                              {QStringLiteral("connect"), connect}, {QStringLiteral("ssl"), ssl},
                              {QStringLiteral("send"), send}, {QStringLiteral("wait"), wait},
                              {QStringLiteral("receive"), receive}};
    const qint64 time = qMax<qint64>(connect, 0) + send + wait + receive;

    QJsonObject entry{{QStringLiteral("startedDateTime"), JsonlWriter::isoTime(started)},
                      {QStringLiteral("time"), time},
                      {QStringLiteral("request"), harRequest},
                      {QStringLiteral("response"), harResponse},
                      {QStringLiteral("cache"), QJsonObject()},
                      {QStringLiteral("timings"), timings},
                      {QStringLiteral("connection"), QString::number(exchange.connectionId)},
                      {QStringLiteral("_proxymon"), proxymon}};
    if (!record.upstreamAddress.isEmpty())
        entry.insert(QStringLiteral("serverIPAddress"), hostOf(record.upstreamAddress));
    if (!comments.isEmpty())
        entry.insert(QStringLiteral("comment"), comments.join(QStringLiteral("; ")));
    return entry;
}

CaptureExport::Counts HarWriter::write(const CaptureSnapshot &snapshot, QIODevice *device,
                                       const CaptureExport::Progress &progress)
{
    CaptureExport::Counts counts;
    const auto put = [&](const QByteArray &bytes) {
        if (counts.complete && device->write(bytes) != bytes.size())
            counts.complete = false;
        return counts.complete;
    };
    const QJsonObject creator{{QStringLiteral("name"), QStringLiteral("proxymon")},
                              {QStringLiteral("version"), QStringLiteral(PROXYMON_VERSION)}};
    put("{\n\"log\": {\n\"version\": \"1.2\",\n\"creator\": " + QJsonDocument(creator).toJson(QJsonDocument::Compact)
        + ",\n\"pages\": [],\n\"entries\": [\n");
    QJsonArray others;
    for (const CaptureSnapshot::Entry &item : snapshot.entries) {
        QList<HttpExchange> tunnels;
        bool first = true;
        for (const HttpExchange &exchange : item.exchanges) {
            if (exchange.tunnel && exchange.request.method() == "CONNECT") {
                tunnels.append(exchange);
                continue;
            }
            const QJsonObject harEntry = entry(exchange, item.record, first && exchange.sequence == 1);
            if (!put((counts.exchanges ? ",\n" : "") + QJsonDocument(harEntry).toJson(QJsonDocument::Compact)))
                return counts;
            ++counts.exchanges;
            first = false;
        }
        if (item.record.raw || item.exchanges.isEmpty() || !tunnels.isEmpty())
            others.append(connectionSummary(item.record, tunnels));
        ++counts.connections;
        if (progress && !progress(counts.connections, snapshot.entries.size())) {
            counts.complete = false;
            return counts;
        }
    }
    const QJsonObject own{{QStringLiteral("connections"), others},
                          {QStringLiteral("comment"), QStringLiteral("Connections that carried no HTTP exchange, and "
                                                                     "CONNECT tunnels, as HAR entries cannot hold them")}};
    put("\n],\n\"_proxymon\": " + QJsonDocument(own).toJson(QJsonDocument::Compact) + "\n}\n}\n");
    return counts;
}
