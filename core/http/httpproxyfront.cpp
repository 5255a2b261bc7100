#include "httpproxyfront.h"

using Type = HttpMessageStream::Event::Type;

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

qsizetype HttpProxyFront::clientBytes(QByteArrayView data)
{
    if (m_refused || m_opaque || m_lastRead || data.isEmpty())
        return 0;
    m_in.feed(data, &m_events);
    qsizetype position = 0;
    qsizetype taken = data.size();
    // Body bytes go to the request being read; one answered early (and
    // dropped from the queue) takes them nowhere.
    const auto reading = [this]() -> Request * {
        return m_requests.empty() || m_requests.back().complete ? nullptr : &m_requests.back();
    };
    for (HttpMessageStream::Event &event : m_events) {
        if (m_refused || m_lastRead) {
            taken = position;
            break;
        }
        const QByteArrayView wire = data.sliced(position, event.end - position);
        position = event.end;
        switch (event.type) {
        case Type::Head:
            // Its bytes are replaced by the rewritten head.
            m_headBytes = 0;
            onHead(event);
            break;
        case Type::Framing:
            if (event.flags & HttpHead::LaxChunkFraming) {
                brokenBody(QStringLiteral("the request body's chunk framing is not RFC 9112's "
                                          "(servers read such lines differently)"));
                break;
            }
            Q_FALLTHROUGH();
        case Type::Body:
            if (Request *request = reading()) {
                const qsizetype before = request->wire.size();
                HttpProxyRequest::appendBody(event, &request->wire);
                m_held += request->wire.size() - before;
            }
            break;
        case Type::Tunnel:
            // Bytes after a CONNECT: the tunnel's first, as they came.
            if (!m_requests.empty()) {
                m_requests.back().wire.append(wire);
                m_held += wire.size();
            }
            break;
        case Type::End:
            if (Request *request = reading())
                request->complete = true;
            m_lastRead = m_readingLast;
            break;
        case Type::NotHttp:
            if (reading())
                brokenBody(QStringLiteral("the request body's chunked framing is broken"));
            else
                refuse(400, QStringLiteral("the request is not HTTP/1.x"));
            break;
        }
    }
    m_events.clear();
    if (m_refused || m_lastRead)
        return qMin(taken, position);
    if (m_in.betweenBodies() && position < data.size()) {
        // A head under way. The parser would wait for its end however long
        // it grows; a proxy answers as soon as it is over the cap.
        m_headBytes += data.size() - position;
        if (m_headBytes > m_limits.maxBytes)
            refuse(431, QStringLiteral("the request head is over %1 bytes").arg(m_limits.maxBytes));
    }
    // Otherwise what is left is part of a chunk line, written once whole.
    return taken;
}

void HttpProxyFront::clientEnded()
{
    if (m_clientEnded)
        return;
    m_clientEnded = true;
    if (m_refused || m_opaque || m_lastRead)
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

void HttpProxyFront::brokenBody(const QString &why)
{
    if (!m_responseUnderway) {
        // The upstream holds half a body it will wait on for ever: the
        // answer replaces its response, and the upstream goes.
        failed(400, why);
    } else {
        refuse(400, why);
    }
}

void HttpProxyFront::onHead(const HttpMessageStream::Event &event)
{
    HttpProxyRequest read;
    Answer refusal;
    if (!HttpProxyRequest::read(event, m_via, m_limits, &read, &refusal)) {
        refuse(refusal.status, refusal.why);
        return;
    }
    if (m_vetting) {
        const Answer instead = m_vetting(event.head);
        if (instead.status != 0) {
            refuse(instead.status, instead.why);
            return;
        }
    }
    Request request;
    request.route = read.route;
    request.method = read.method;
    request.tunnel = read.tunnel;
    request.persistent = read.persistent;
    request.complete = read.tunnel;
    request.wire = std::move(read.head);
    m_readingLast = !read.persistent;
    m_held += request.wire.size();
    m_requests.push_back(std::move(request));
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
    // upload early): what was left of the request is not sent, so that
    // upstream would read the next request as the rest of this body (and
    // run the body as requests). It serves nothing more.
    const Request &request = m_requests.front();
    if (!request.complete || !request.wire.isEmpty())
        m_upstreamReusable = false;
    m_held -= request.wire.size();
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
            if (m_finalHead && !HttpProxyRequest::keepsConnection(event.head)) {
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
