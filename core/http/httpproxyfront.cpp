#include "httpproxyfront.h"

#include "endpoint.h"

#include <QHostAddress>

using Type = HttpMessageStream::Event::Type;

namespace {

// Whether a comma-separated header value lists token (case-insensitive).
bool listsToken(QByteArrayView value, QByteArrayView token)
{
    while (!value.isEmpty()) {
        const qsizetype comma = value.indexOf(',');
        QByteArrayView item = (comma < 0 ? value : value.first(comma)).trimmed();
        if (item.compare(token, Qt::CaseInsensitive) == 0)
            return true;
        if (comma < 0)
            break;
        value = value.sliced(comma + 1);
    }
    return false;
}

bool anyListsToken(const QVarLengthArray<QByteArrayView, 4> &values, QByteArrayView token)
{
    for (QByteArrayView value : values) {
        if (listsToken(value, token))
            return true;
    }
    return false;
}

using Values = QVarLengthArray<QByteArrayView, 4>;

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

// Whether a message keeps its connection open afterwards (RFC 9112 9.3).
bool persistent(const HttpHead &head, const Values &options)
{
    if (anyListsToken(options, "close"))
        return false;
    return head.version() == "HTTP/1.1" || anyListsToken(options, "keep-alive");
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
bool parseAuthority(QByteArrayView authority, quint16 defaultPort, HttpProxyFront::Route *route)
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
// (RFC 9110 7.6.1), and Host, which the rewritten head sets from the URL.
// Transfer-Encoding stays: the body is relayed with the framing it came in.
bool notPassedOn(QByteArrayView name, const Values &connectionOptions)
{
    static constexpr QByteArrayView fixed[] = {"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authorization",
                                               "TE", "Trailer", "Upgrade", "Host"};
    for (QByteArrayView hop : fixed) {
        if (name.compare(hop, Qt::CaseInsensitive) == 0)
            return true;
    }
    return anyListsToken(connectionOptions, name);
}

} // namespace

QString HttpProxyFront::Route::text() const
{
    return Endpoint::format(host, port);
}

HttpProxyFront::HttpProxyFront(HttpHeadParser::Limits limits, QByteArray viaToken)
    : m_limits(limits)
    , m_via(std::move(viaToken))
    , m_in(HttpHead::Kind::Request, limits)
    , m_out(HttpHead::Kind::Response, limits)
{
}

QByteArray HttpProxyFront::reasonPhrase(int status)
{
    // RFC 9110's phrases, for proxymon's own answers and the statuses a
    // fault rule answers with; a client does not read them.
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 418: return "I'm a teapot";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 508: return "Loop Detected";
    default: return status < 400 ? "OK" : "Error";
    }
}

QByteArray HttpProxyFront::answerBytes(const Answer &answer)
{
    const QByteArray body = "proxymon: " + answer.why.toUtf8() + '\n';
    return "HTTP/1.1 " + QByteArray::number(answer.status) + ' ' + reasonPhrase(answer.status)
        + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " + QByteArray::number(body.size())
        + "\r\nConnection: close\r\n\r\n" + body;
}

QByteArray HttpProxyFront::tunnelEstablished()
{
    return QByteArrayLiteral("HTTP/1.1 200 Connection established\r\n\r\n");
}

bool HttpProxyFront::wantsClientBytes(qsizetype capacity) const
{
    return !m_refused && !m_opaque && m_held < capacity;
}

void HttpProxyFront::clientBytes(QByteArrayView data)
{
    if (m_refused || m_opaque || data.isEmpty())
        return;
    m_in.feed(data, &m_events);
    qsizetype position = 0;
    const auto append = [this](QByteArrayView wire) {
        if (wire.isEmpty() || m_requests.empty())
            return;
        m_requests.back().wire.append(wire);
        m_held += wire.size();
    };
    for (HttpMessageStream::Event &event : m_events) {
        if (m_refused)
            break;
        const QByteArrayView wire = data.sliced(position, event.end - position);
        position = event.end;
        switch (event.type) {
        case Type::Head:
            // Its bytes are replaced by the rewritten head.
            m_headBytes = 0;
            onHead(event.head);
            break;
        case Type::Body:
        case Type::Framing:
        case Type::Tunnel:
            append(wire);
            break;
        case Type::End:
            append(wire);
            if (!m_requests.empty())
                m_requests.back().complete = true;
            break;
        case Type::NotHttp:
            if (m_requests.empty() || m_requests.back().complete) {
                refuse(400, QStringLiteral("the request is not HTTP/1.x"));
            } else if (!m_responseUnderway) {
                // The upstream holds half a body it will wait on for ever:
                // the answer replaces its response, and the upstream goes.
                failed(400, QStringLiteral("the request body's chunked framing is broken"));
            } else {
                refuse(400, QStringLiteral("the request body's chunked framing is broken"));
            }
            break;
        }
    }
    m_events.clear();
    if (m_refused || position == data.size())
        return;
    const QByteArrayView rest = data.sliced(position);
    if (!m_in.betweenBodies()) {
        append(rest);
        return;
    }
    // A head under way. The parser would wait for its end however long it
    // grows; a proxy answers as soon as it is over the cap.
    m_headBytes += rest.size();
    if (m_headBytes > m_limits.maxBytes)
        refuse(431, QStringLiteral("the request head is over %1 bytes").arg(m_limits.maxBytes));
}

void HttpProxyFront::clientEnded()
{
    if (m_clientEnded)
        return;
    m_clientEnded = true;
    if (m_refused || m_opaque)
        return;
    m_in.finish(&m_events);
    for (const HttpMessageStream::Event &event : m_events) {
        if (event.type == Type::End && !m_requests.empty())
            m_requests.back().complete = true;
    }
    m_events.clear();
}

void HttpProxyFront::refuse(int status, const QString &why)
{
    Request request;
    request.answer = {status, why};
    request.complete = true;
    m_requests.push_back(std::move(request));
    m_refused = true;
}

void HttpProxyFront::onHead(HttpHead &head)
{
    Request request;
    Answer refusal;
    if (!rewrite(head, &request, &refusal)) {
        refuse(refusal.status, refusal.why);
        return;
    }
    if (m_vetting) {
        const Answer instead = m_vetting(head);
        if (instead.status != 0) {
            refuse(instead.status, instead.why);
            return;
        }
    }
    m_held += request.wire.size();
    m_requests.push_back(std::move(request));
}

bool HttpProxyFront::rewrite(const HttpHead &head, Request *request, Answer *refusal) const
{
    const auto refuseWith = [refusal](int status, const QString &why) {
        *refusal = {status, why};
        return false;
    };
    if (head.has(HttpHead::Truncated))
        return refuseWith(431, QStringLiteral("the request head is over %1 bytes or %2 headers")
                                   .arg(m_limits.maxBytes).arg(m_limits.maxHeaders));
    if (head.has(HttpHead::MalformedLine))
        return refuseWith(400, QStringLiteral("malformed request line or header line"));
    if (head.has(HttpHead::AmbiguousFraming))
        return refuseWith(400, QStringLiteral("ambiguous body length (Content-Length with Transfer-Encoding, "
                                              "or conflicting lengths)"));
    const QByteArrayView version = head.version();
    if (version != "HTTP/1.1" && version != "HTTP/1.0")
        return refuseWith(400, QStringLiteral("unsupported version %1").arg(QString::fromLatin1(version)));
    const QVarLengthArray<QByteArrayView, 4> via = head.values("Via");
    for (QByteArrayView value : via) {
        if (!m_via.isEmpty() && value.contains(m_via))
            return refuseWith(508, QStringLiteral("request loop: this request has already passed through this proxy"));
    }

    const QByteArrayView method = head.method();
    const QByteArrayView target = head.target();
    if (method == "CONNECT") {
        if (!parseAuthority(target, 0, &request->route))
            return refuseWith(400, QStringLiteral("CONNECT needs host:port, not '%1'").arg(QString::fromLatin1(target)));
        request->tunnel = true;
        request->method = Method::Connect;
        request->complete = true;
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
    request->persistent = persistent(head, options);
    request->method = method == "HEAD" ? Method::Head : Method::Other;

    QByteArray &wire = request->wire;
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
    if (!m_via.isEmpty()) {
        wire += "Via: ";
        wire += version.sliced(5);
        wire += ' ';
        wire += m_via;
        wire += "\r\n";
    }
    if (!request->persistent)
        wire += "Connection: close\r\n";
    wire += "\r\n";
    return true;
}

HttpProxyFront::Request *HttpProxyFront::current()
{
    for (Request &request : m_requests) {
        if (!(request.started && request.complete && request.wire.isEmpty()))
            return &request;
    }
    return nullptr;
}

const HttpProxyFront::Request *HttpProxyFront::current() const
{
    return const_cast<HttpProxyFront *>(this)->current();
}

HttpProxyFront::Step HttpProxyFront::step() const
{
    if (m_opaque)
        return Step::Wait;
    const Request *request = current();
    if (!request)
        return Step::Wait;
    if (request->started)
        return request->wire.isEmpty() ? Step::Wait : Step::Send;
    // One request at a time upstream: the next starts once every earlier
    // response has ended, so that a response announcing "close" never
    // strands a request sent behind it.
    if (request != &m_requests.front())
        return Step::Wait;
    if (request->answer.status != 0)
        return Step::Answer;
    if (request->tunnel)
        return Step::Tunnel;
    if (m_connected && m_upstreamReusable && m_route == request->route)
        return Step::Send;
    return Step::Connect;
}

const HttpProxyFront::Route &HttpProxyFront::route() const
{
    const Request *request = current();
    return request ? request->route : m_emptyRoute;
}

QByteArrayView HttpProxyFront::outgoing() const
{
    const Request *request = current();
    return request ? QByteArrayView(request->wire) : QByteArrayView();
}

void HttpProxyFront::sent(qsizetype bytes)
{
    Request *request = current();
    if (!request)
        return;
    if (!request->started) {
        request->started = true;
        m_out.expectResponseTo(request->method == Method::Head ? QByteArrayView("HEAD")
                               : request->method == Method::Connect ? QByteArrayView("CONNECT")
                                                                     : QByteArrayView("GET"));
    }
    request->wire.remove(0, bytes);
    m_held -= bytes;
}

const HttpProxyFront::Answer &HttpProxyFront::answer() const
{
    static const Answer none;
    return m_requests.empty() ? none : m_requests.front().answer;
}

void HttpProxyFront::connected()
{
    const Request *request = current();
    m_route = request ? request->route : Route();
    m_connected = true;
    m_upstreamReusable = true;
    m_responseUnderway = false;
    m_out.reset();
}

void HttpProxyFront::upstreamClosed()
{
    m_connected = false;
}

void HttpProxyFront::failed(int status, const QString &why)
{
    // Whatever came after the failed request is not served: the answer
    // closes the connection.
    while (m_requests.size() > 1)
        m_requests.pop_back();
    if (m_requests.empty())
        m_requests.emplace_back();
    Request &request = m_requests.front();
    request.answer = {status, why};
    request.started = false;
    request.complete = true;
    request.wire.clear();
    m_held = 0;
    m_refused = true;
    m_connected = false;
}

void HttpProxyFront::answered()
{
    // A response may end before its request did (a server refusing an
    // upload early): what was left of the request is not sent.
    m_held -= m_requests.front().wire.size();
    m_requests.pop_front();
}

int HttpProxyFront::inFlight() const
{
    return !m_requests.empty() && m_requests.front().started ? 1 : 0;
}

void HttpProxyFront::upstreamBytes(QByteArrayView data)
{
    if (m_opaque || data.isEmpty())
        return;
    m_out.feed(data, &m_events);
    for (HttpMessageStream::Event &event : m_events) {
        switch (event.type) {
        case Type::Head: {
            m_responseUnderway = true;
            const int status = event.head.status;
            m_finalHead = status >= 200 || status == 101;
            if (m_finalHead && !persistent(event.head, connectionOptions(event.head))) {
                m_upstreamReusable = false;
                m_closeWhenIdle = true; // the client read the same words
            }
            break;
        }
        case Type::End:
            // An interim response's end leaves the request waiting for
            // its final one.
            if (!m_responseUnderway || !m_finalHead)
                break;
            m_responseUnderway = false;
            m_finalHead = false;
            if (inFlight()) {
                if (!m_requests.front().persistent)
                    m_closeWhenIdle = true;
                answered();
            }
            if (m_out.isTunnel())
                m_opaque = true;
            break;
        case Type::Tunnel:
        case Type::NotHttp:
            m_opaque = true;
            break;
        case Type::Body:
        case Type::Framing:
            break;
        }
    }
    m_events.clear();
}

HttpProxyFront::UpstreamEnd HttpProxyFront::upstreamEnded()
{
    const bool wasUnderway = m_responseUnderway;
    if (!m_opaque) {
        m_out.finish(&m_events);
        for (const HttpMessageStream::Event &event : m_events) {
            if (event.type == Type::End && inFlight()) {
                answered();
                m_responseUnderway = false;
            }
        }
        m_events.clear();
    }
    m_connected = false;
    if (wasUnderway || m_opaque)
        return UpstreamEnd::PassOn;
    if (inFlight()) {
        failed(502, QStringLiteral("%1 closed the connection without answering").arg(m_route.text()));
        return UpstreamEnd::Failed;
    }
    return UpstreamEnd::Idle;
}
