#include "httpproxyrequest.h"

#include "endpoint.h"
#include "httpsyntax.h"

#include <QHostAddress>

using namespace HttpSyntax;

namespace {

using Values = QVarLengthArray<QByteArrayView, 4>;

bool listsToken(const Values &values, QByteArrayView token)
{
    for (QByteArrayView value : values) {
        if (anyListItem(value, [token](QByteArrayView item) { return sameName(item, token); }))
            return true;
    }
    return false;
}

// The connection options a message names: Connection, and for a request
// also the Proxy-Connection that clients of proxies still send.
Values connectionOptions(const HttpHead &head)
{
    Values options = head.values("Connection");
    if (head.kind == HttpHead::Kind::Request) {
        for (QByteArrayView value : head.values("Proxy-Connection"))
            options.append(value);
    }
    return options;
}

bool keepsOpen(const HttpHead &head, const Values &options)
{
    if (listsToken(options, "close"))
        return false;
    return head.version() == "HTTP/1.1" || listsToken(options, "keep-alive");
}

bool validHost(QByteArrayView host)
{
    if (host.isEmpty() || host.size() > 253)
        return false;
    for (const char c : host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
            || c == '.' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

// "host", "host:port", "[v6]" or "[v6]:port" into a route; false when it
// is none of these.
bool parseAuthority(QByteArrayView authority, quint16 defaultPort, HttpProxyRequest::Route *route)
{
    QByteArrayView host;
    QByteArrayView port;
    if (authority.startsWith('[')) {
        const qsizetype close = authority.indexOf(']');
        if (close < 0)
            return false;
        host = authority.sliced(1, close - 1);
        const QByteArrayView rest = authority.sliced(close + 1);
        if (!rest.isEmpty()) {
            if (rest.front() != ':')
                return false;
            port = rest.sliced(1);
        }
        if (QHostAddress(QString::fromLatin1(host)).protocol() != QAbstractSocket::IPv6Protocol)
            return false;
    } else {
        const qsizetype colon = authority.indexOf(':');
        host = colon < 0 ? authority : authority.first(colon);
        if (colon >= 0)
            port = authority.sliced(colon + 1);
        if (!validHost(host))
            return false;
    }
    route->host = QString::fromLatin1(host);
    route->port = defaultPort;
    if (!port.isNull()) {
        bool ok = false;
        const uint value = port.toByteArray().toUInt(&ok, 10);
        if (!ok || value == 0 || value > 65535)
            return false;
        route->port = quint16(value);
    }
    return route->port != 0;
}

// Headers the upstream does not get as they came: the hop-by-hop ones
// (RFC 9110 7.6.1), those the options name, and the framing and routing
// ones, which the rewritten head writes itself.
bool notPassedOn(QByteArrayView name, const Values &connectionOptions)
{
    static constexpr QByteArrayView hopByHop[] = {"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authorization",
                                                  "TE", "Trailer", "Upgrade"};
    for (QByteArrayView hop : hopByHop) {
        if (sameName(name, hop))
            return true;
    }
    return !framingHeader(name).isEmpty() || listsToken(connectionOptions, name);
}

} // namespace

QString HttpProxyRequest::Route::text() const
{
    return Endpoint::format(host, port);
}

bool HttpProxyRequest::keepsConnection(const HttpHead &head)
{
    return keepsOpen(head, connectionOptions(head));
}

bool HttpProxyRequest::read(const HttpMessageStream::Event &event, QByteArrayView viaToken, HttpHeadParser::Limits limits,
                            HttpProxyRequest *request, Answer *refusal)
{
    const HttpHead &head = event.head;
    const auto refuseWith = [refusal](int status, const QString &why) {
        *refusal = {status, why};
        return false;
    };
    if (head.has(HttpHead::Truncated))
        return refuseWith(431, QStringLiteral("the request head is over %1 bytes or %2 headers")
                                   .arg(limits.maxBytes).arg(limits.maxHeaders));
    if (head.has(HttpHead::MalformedLine))
        return refuseWith(400, QStringLiteral("malformed request line or header line"));
    if (head.has(HttpHead::ControlCharacter))
        return refuseWith(400, QStringLiteral("a control character or a CR without LF in the request head "
                                              "(servers read such lines differently)"));
    if (head.has(HttpHead::AmbiguousFraming))
        return refuseWith(400, QStringLiteral("ambiguous body length (Content-Length with Transfer-Encoding, "
                                              "conflicting lengths, or Transfer-Encoding in HTTP/1.0)"));
    const QByteArrayView version = head.version();
    if (version != "HTTP/1.1" && version != "HTTP/1.0")
        return refuseWith(400, QStringLiteral("unsupported version %1").arg(QString::fromLatin1(version)));
    for (QByteArrayView value : head.values("Via")) {
        if (!viaToken.isEmpty() && value.contains(viaToken))
            return refuseWith(508, QStringLiteral("request loop: this request has already passed through this proxy"));
    }

    const QByteArrayView method = head.method();
    const QByteArrayView target = head.target();
    if (method == "CONNECT") {
        if (!parseAuthority(target, 0, &request->route))
            return refuseWith(400, QStringLiteral("CONNECT needs host:port, not '%1'").arg(QString::fromLatin1(target)));
        request->tunnel = true;
        request->method = Method::Connect;
        return true;
    }

    const auto hasScheme = [target](QByteArrayView scheme) {
        return target.size() > scheme.size() && target.first(scheme.size()).compare(scheme, Qt::CaseInsensitive) == 0;
    };
    static constexpr QByteArrayView scheme = "http://";
    if (hasScheme("https://"))
        return refuseWith(400, QStringLiteral("https:// URLs go through CONNECT; set proxymon as the HTTPS proxy as well"));
    if (!hasScheme(scheme))
        return refuseWith(400, QStringLiteral("not a proxy request: '%1' is not an absolute http:// URL "
                                              "(proxymon is running as an HTTP proxy)")
                                   .arg(QString::fromLatin1(target.first(qMin<qsizetype>(target.size(), 200)))));
    const QByteArrayView rest = target.sliced(scheme.size());
    qsizetype pathStart = rest.size();
    for (const char stop : {'/', '?', '#'}) {
        const qsizetype at = rest.indexOf(stop);
        if (at >= 0 && at < pathStart)
            pathStart = at;
    }
    QByteArrayView authority = rest.first(pathStart);
    authority = authority.sliced(authority.lastIndexOf('@') + 1); // user info is not passed on
    QByteArrayView path = rest.sliced(pathStart);
    if (const qsizetype fragment = path.indexOf('#'); fragment >= 0)
        path = path.first(fragment);
    if (!parseAuthority(authority, 80, &request->route))
        return refuseWith(400, QStringLiteral("'%1' is not a valid host[:port]").arg(QString::fromLatin1(authority)));

    const Values options = connectionOptions(head);
    for (QByteArrayView value : options) {
        QByteArrayView named;
        if (anyListItem(value, [&named](QByteArrayView item) { return !(named = framingHeader(item)).isEmpty(); }))
            return refuseWith(400, QStringLiteral("Connection names %1, which frames or routes the request and is "
                                                  "not hop-by-hop")
                                       .arg(QString::fromLatin1(named)));
    }
    const Values codingValues = head.values("Transfer-Encoding");
    QByteArray codings;
    if (!codingValues.isEmpty() && !requestCodings(codingValues, &codings))
        return refuseWith(400, QStringLiteral("Transfer-Encoding must list tokens and end in chunked, once"));
    request->persistent = keepsOpen(head, options);
    request->method = method == "HEAD" ? Method::Head : Method::Other;

    QByteArray &wire = request->head;
    wire.reserve(head.raw.size() + 64);
    wire += method;
    wire += ' ';
    if (path.isEmpty() || path.front() != '/')
        wire += '/';
    wire += path;
    wire += ' ';
    wire += version;
    wire += "\r\nHost: ";
    wire += authority;
    wire += "\r\n";
    for (const HttpHead::Header &header : head.headers) {
        const QByteArrayView name = head.name(header);
        if (notPassedOn(name, options))
            continue;
        wire += name;
        wire += ": ";
        wire += head.value(header);
        wire += "\r\n";
    }
    // One framing, in proxymon's own words: "Content-Length: 5, 5" goes
    // out as one value, a coding list as one line.
    if (!codings.isEmpty()) {
        wire += "Transfer-Encoding: ";
        wire += codings;
        wire += "\r\n";
    } else if (!head.values("Content-Length").isEmpty()) {
        wire += "Content-Length: ";
        wire += QByteArray::number(event.bodyLength);
        wire += "\r\n";
    }
    if (!viaToken.isEmpty()) {
        wire += "Via: ";
        wire += version.sliced(5);
        wire += ' ';
        wire += viaToken;
        wire += "\r\n";
    }
    if (!request->persistent)
        wire += "Connection: close\r\n";
    wire += "\r\n";
    return true;
}

void HttpProxyRequest::appendBody(const HttpMessageStream::Event &event, QByteArray *wire)
{
    using Line = HttpMessageStream::Event::Line;
    if (event.type == HttpMessageStream::Event::Type::Body) {
        wire->append(event.bytes);
        return;
    }
    switch (event.line) {
    case Line::ChunkSize:
        wire->append(QByteArray::number(event.bodyLength, 16));
        wire->append("\r\n");
        break;
    case Line::ChunkDataEnd:
    case Line::TrailersEnd:
        wire->append("\r\n");
        break;
    case Line::Trailer: {
        // A trailer may not frame or route the request (RFC 9110 6.5.1).
        const QByteArrayView line = event.framing;
        const QByteArrayView name = line.first(qMax<qsizetype>(0, line.indexOf(':')));
        if (!framingHeader(name).isEmpty())
            return;
        wire->append(line);
        break;
    }
    case Line::None:
        break;
    }
}
