#include "httpconversation.h"

using Type = HttpMessageStream::Event::Type;

HttpConversation::HttpConversation(quint64 connectionId, Limits limits, int firstSequence, bool secure)
    : m_connectionId(connectionId)
    , m_limits(limits)
    , m_firstSequence(firstSequence)
    , m_secure(secure)
    , m_requests(HttpHead::Kind::Request, limits.head)
    , m_responses(HttpHead::Kind::Response, limits.head)
{
    // A message's head, a body and its end come out of one feed: room for
    // them at once, where growing the list event by event moved it three
    // times on every new connection.
    m_events.reserve(4);
}

void HttpConversation::keepRaw(QByteArray *prefix, QByteArrayView data) const
{
    const qsizetype room = m_limits.rawPrefixBytes - prefix->size();
    if (room > 0)
        prefix->append(data.first(qMin(room, data.size())));
}

void HttpConversation::reserveBody(QByteArray *body, quint64 length) const
{
    // One allocation for a body of known length rather than a dozen
    // growing copies of a big one.
    body->reserve(qsizetype(qMin<quint64>(length, quint64(m_limits.bodyPrefixBytes))));
}

void HttpConversation::appendBody(QByteArray *body, QByteArrayView bytes) const
{
    const qsizetype room = m_limits.bodyPrefixBytes - body->size();
    if (room > 0)
        body->append(bytes.first(qMin(room, bytes.size())));
}

// The first bytes each way are kept until the conversation has shown itself
// to be HTTP (then its exchanges say it all) and for good if it is raw.
void HttpConversation::clientBytes(QByteArrayView data, qint64 nowMs)
{
    if (data.isEmpty())
        return;
    if (!m_raw) {
        if (!m_inRequest && m_requestBytesSince == 0)
            m_requestBytesSince = nowMs;
        m_requests.feed(data, &m_events);
        onRequestEvents(nowMs);
    }
    if (m_raw || m_sequence == 0)
        keepRaw(&m_rawClient, data);
}

void HttpConversation::upstreamBytes(QByteArrayView data, qint64 nowMs)
{
    if (data.isEmpty())
        return;
    if (!m_raw) {
        if (m_responseBytesSince == 0)
            m_responseBytesSince = nowMs;
        m_responses.feed(data, &m_events);
        onResponseEvents(nowMs);
    }
    if (m_raw || m_sequence == 0)
        keepRaw(&m_rawUpstream, data);
}

void HttpConversation::onRequestEvents(qint64 nowMs)
{
    for (HttpMessageStream::Event &event : m_events) {
        switch (event.type) {
        case Type::Head: {
            m_responses.expectResponseTo(event.head.method());
            if (m_sequence == 0) {
                m_rawClient = QByteArray();
                m_rawUpstream = QByteArray();
            }
            HttpExchange exchange;
            exchange.connectionId = m_connectionId;
            exchange.sequence = m_firstSequence + ++m_sequence;
            exchange.secure = m_secure;
            exchange.flags |= event.head.flags;
            exchange.request = std::move(event.head);
            reserveBody(&exchange.requestBody, event.bodyLength);
            exchange.requestStartMs = m_requestBytesSince ? m_requestBytesSince : nowMs;
            m_open.enqueue(std::move(exchange));
            m_inRequest = true;
            break;
        }
        case Type::Body:
            if (!m_open.isEmpty()) {
                HttpExchange &exchange = m_open.last();
                exchange.requestBodyBytes += quint64(event.bytes.size());
                appendBody(&exchange.requestBody, event.bytes);
            }
            break;
        case Type::End:
            if (!m_open.isEmpty()) {
                m_open.last().requestCompleteMs = nowMs;
                m_open.last().flags |= event.flags;
            }
            // Later bytes of this same batch start the next request now.
            m_requestBytesSince = 0;
            m_inRequest = false;
            break;
        case Type::Framing:
            if (!m_open.isEmpty()) {
                HttpExchange &exchange = m_open.last();
                exchange.requestFraming.add(exchange.requestBodyBytes, exchange.requestBody.size(), event.framing);
            }
            break;
        case Type::Tunnel:
            break;
        case Type::NotHttp:
            // Not HTTP from the first byte: a raw connection. Later, the
            // requests seen so far stand and parsing just stops.
            if (m_sequence == 0)
                m_raw = true;
            break;
        }
    }
    m_events.clear();
}

void HttpConversation::onResponseEvents(qint64 nowMs)
{
    for (HttpMessageStream::Event &event : m_events) {
        if (event.type == Type::Tunnel || event.type == Type::NotHttp)
            continue;
        if (event.type == Type::Framing) {
            if (!m_open.isEmpty() && m_open.head().hasResponse()) {
                HttpExchange &exchange = m_open.head();
                exchange.responseFraming.add(exchange.responseBodyBytes, exchange.responseBody.size(), event.framing);
            }
            continue;
        }
        if (m_open.isEmpty()) {
            if (event.type != Type::Head)
                continue;
            // An answer to no request (the server spoke first): kept, with
            // an empty request, so that it is not lost.
            HttpExchange orphan;
            orphan.connectionId = m_connectionId;
            orphan.sequence = m_firstSequence + ++m_sequence;
            orphan.secure = m_secure;
            orphan.flags |= HttpHead::MalformedLine;
            m_open.enqueue(orphan);
        }
        HttpExchange &exchange = m_open.head();
        switch (event.type) {
        case Type::Head: {
            if (exchange.responseStartMs == 0)
                exchange.responseStartMs = m_responseBytesSince ? m_responseBytesSince : nowMs;
            const int status = event.head.status;
            if (status >= 100 && status < 200 && status != 101) {
                exchange.interim.append(std::move(event.head));
            } else {
                exchange.flags |= event.head.flags;
                exchange.response = std::move(event.head);
                reserveBody(&exchange.responseBody, event.bodyLength);
            }
            break;
        }
        case Type::Body:
            exchange.responseBodyBytes += quint64(event.bytes.size());
            appendBody(&exchange.responseBody, event.bytes);
            break;
        case Type::End: {
            m_responseBytesSince = 0;
            if (!exchange.hasResponse())
                break; // the end of an interim response
            exchange.responseCompleteMs = nowMs;
            exchange.flags |= event.flags;
            exchange.complete = !(event.flags & HttpHead::BodyShort);
            const int status = exchange.response.status;
            if (status == 101 || (exchange.request.method() == "CONNECT" && status >= 200 && status < 300)) {
                exchange.tunnel = true;
                m_requests.switchToTunnel();
            }
            m_finished.append(m_open.dequeue());
            break;
        }
        case Type::Tunnel:
        case Type::NotHttp:
        case Type::Framing:
            break;
        }
    }
    m_events.clear();
}

void HttpConversation::sourceEnded(bool fromClient, qint64 nowMs)
{
    if (fromClient) {
        m_requests.finish(&m_events);
        onRequestEvents(nowMs);
    } else {
        m_responses.finish(&m_events);
        onResponseEvents(nowMs);
    }
}

void HttpConversation::finish(qint64 nowMs)
{
    // A direction that ended already has nothing more to end.
    sourceEnded(true, nowMs);
    sourceEnded(false, nowMs);
    while (!m_open.isEmpty())
        m_finished.append(m_open.dequeue());
}

QList<HttpExchange> HttpConversation::takeFinished()
{
    QList<HttpExchange> finished;
    moveFinishedTo(&finished);
    return finished;
}

void HttpConversation::moveFinishedTo(QList<HttpExchange> *to)
{
    // No reserve(): reserving the exact size each time would defeat the
    // list's geometric growth and copy it on every call.
    for (HttpExchange &exchange : m_finished)
        to->append(std::move(exchange));
    m_finished.clear();
}

HttpConversation::BodyRef HttpConversation::currentBody(bool fromClient)
{
    if (m_raw || m_open.isEmpty())
        return {};
    // A request's body belongs to the latest request, a response's to the
    // oldest one still unanswered.
    HttpExchange &exchange = fromClient ? m_open.last() : m_open.head();
    if (fromClient)
        return {&exchange.requestBody, &exchange.requestBodyBytes};
    if (!exchange.hasResponse())
        return {}; // an interim response's body: rare, shown the usual way
    return {&exchange.responseBody, &exchange.responseBodyBytes};
}

HttpConversation::BodyWindow HttpConversation::bodyWindow(bool fromClient)
{
    BodyWindow window;
    const HttpMessageStream &stream = fromClient ? m_requests : m_responses;
    const quint64 ahead = stream.bodyBytesAhead();
    QByteArray *body = ahead > 0 ? currentBody(fromClient).kept : nullptr;
    if (!body)
        return window;
    window.ahead = ahead;
    const qsizetype room = qsizetype(qMin<quint64>(ahead, quint64(qMax<qsizetype>(0, m_limits.bodyPrefixBytes - body->size()))));
    if (room > 0) {
        const qsizetype kept = body->size();
        body->resize(kept + room);
        window.room = body->data() + kept;
        window.roomBytes = room;
        m_roomGiven[fromClient] = room;
    }
    return window;
}

void HttpConversation::bodyPassed(bool fromClient, quint64 n, qint64 nowMs)
{
    const BodyRef body = currentBody(fromClient);
    if (!body.kept)
        return;
    // The room that was not filled goes, before the exchange may move on.
    const qsizetype unfilled = m_roomGiven[fromClient] - qsizetype(qMin<quint64>(n, quint64(m_roomGiven[fromClient])));
    body.kept->chop(unfilled);
    m_roomGiven[fromClient] = 0;
    *body.size += n;
    HttpMessageStream &stream = fromClient ? m_requests : m_responses;
    stream.passBody(n, &m_events);
    if (fromClient)
        onRequestEvents(nowMs);
    else
        onResponseEvents(nowMs);
}

bool HttpConversation::wantsClientBytes() const
{
    if (m_raw)
        return m_rawClient.size() < m_limits.rawPrefixBytes;
    return m_requests.isHttp() && !m_requests.isTunnel();
}

bool HttpConversation::wantsUpstreamBytes() const
{
    if (m_raw)
        return m_rawUpstream.size() < m_limits.rawPrefixBytes;
    return m_responses.isHttp() && !m_responses.isTunnel();
}
