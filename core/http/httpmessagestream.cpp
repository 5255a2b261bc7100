#include "httpmessagestream.h"

#include "httpsyntax.h"

#include <QScopeGuard>

#include <limits>

namespace {

// Longest chunk-size or trailer line we follow; longer is not HTTP framing.
constexpr qsizetype MaxLine = 4096;

using Event = HttpMessageStream::Event;

// Built where it lies in the list: an event carries a whole (usually
// empty) head, which is not worth a temporary and a move.
Event &add(QList<Event> *events, Event::Type type, QByteArrayView bytes = {}, quint32 flags = 0)
{
    Event &e = events->emplaceBack();
    e.type = type;
    e.bytes = bytes;
    e.flags = flags;
    return e;
}

QByteArrayView trimmed(QByteArrayView text)
{
    while (!text.isEmpty() && (text.back() == '\r' || text.back() == '\n' || text.back() == ' ' || text.back() == '\t'))
        text.chop(1);
    while (!text.isEmpty() && (text.front() == ' ' || text.front() == '\t'))
        text = text.sliced(1);
    return text;
}

using Values = QVarLengthArray<QByteArrayView, 4>;

// Content-Length values, each possibly a list ("5, 5"). Returns false when
// one is not a number or they disagree.
bool contentLength(const Values &values, quint64 *length)
{
    bool seen = false;
    for (QByteArrayView value : values) {
        while (true) {
            const qsizetype comma = value.indexOf(',');
            const QByteArrayView digits = trimmed(comma < 0 ? value : value.first(comma));
            if (digits.isEmpty() || digits.size() > 18)
                return false;
            quint64 n = 0;
            for (const char c : digits) {
                if (c < '0' || c > '9')
                    return false;
                n = n * 10 + quint64(c - '0');
            }
            if (seen && n != *length)
                return false;
            *length = n;
            seen = true;
            if (comma < 0)
                break;
            value = value.sliced(comma + 1);
        }
    }
    return seen;
}

// Whether the last transfer coding is chunked.
bool chunkedLast(const Values &values)
{
    const QByteArrayView last = values.last();
    return trimmed(last.sliced(last.lastIndexOf(',') + 1)).compare("chunked", Qt::CaseInsensitive) == 0;
}

} // namespace

HttpMessageStream::HttpMessageStream(HttpHead::Kind kind)
    : HttpMessageStream(kind, HttpHeadParser::Limits())
{
}

HttpMessageStream::HttpMessageStream(HttpHead::Kind kind, HttpHeadParser::Limits limits)
    : m_heads(kind, limits)
{
}

void HttpMessageStream::expectResponseTo(QByteArrayView method)
{
    m_requestMethods.enqueue(method == "HEAD"  ? RequestMethod::Head
                             : method == "CONNECT" ? RequestMethod::Connect
                                                   : RequestMethod::Other);
}

void HttpMessageStream::reset()
{
    m_heads.reset();
    m_state = State::Head;
    m_remaining = 0;
    m_line.clear();
    m_bodyFlags = 0;
    m_requestMethods.clear();
}

void HttpMessageStream::switchToTunnel()
{
    if (m_state != State::NotHttp)
        m_state = State::Tunnel;
}

qsizetype HttpMessageStream::takeLine(QByteArrayView data, bool *complete)
{
    const qsizetype end = data.indexOf('\n');
    const qsizetype used = end < 0 ? data.size() : end + 1;
    m_line.append(data.first(used));
    *complete = end >= 0;
    return used;
}

void HttpMessageStream::endMessage(QList<Event> *events, quint32 flags)
{
    add(events, Event::Type::End, {}, flags | m_bodyFlags);
    m_state = State::Head;
    m_remaining = 0;
    m_bodyFlags = 0;
}

void HttpMessageStream::startBody(HttpHead &head, QList<Event> *events)
{
    enum class Framing { None, Fixed, Chunked, UntilClose, Tunnel } framing = Framing::None;
    quint64 length = 0;
    const Values codings = head.values("Transfer-Encoding");
    const Values lengths = head.values("Content-Length");

    auto byHeaders = [&](Framing otherwise) {
        if (!codings.isEmpty()) {
            // RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has
            // faulty framing, whatever else it says.
            if (!lengths.isEmpty() || head.version() == "HTTP/1.0")
                head.flags |= HttpHead::AmbiguousFraming;
            if (chunkedLast(codings))
                return Framing::Chunked;
            // A request cannot be framed by the end of the connection; a
            // server would refuse it. Follow it to the end, flagged.
            if (head.kind == HttpHead::Kind::Request)
                head.flags |= HttpHead::AmbiguousFraming;
            return Framing::UntilClose;
        }
        if (!lengths.isEmpty()) {
            if (!contentLength(lengths, &length)) {
                head.flags |= HttpHead::AmbiguousFraming;
                return Framing::UntilClose;
            }
            return length == 0 ? Framing::None : Framing::Fixed;
        }
        return otherwise;
    };

    bool interim = false;
    if (head.kind == HttpHead::Kind::Request) {
        framing = head.method() == "CONNECT" ? Framing::Tunnel : byHeaders(Framing::None);
    } else {
        const int status = head.status;
        interim = status >= 100 && status < 200 && status != 101;
        RequestMethod method = RequestMethod::Other;
        if (!interim && !m_requestMethods.isEmpty())
            method = m_requestMethods.dequeue();
        if (interim || status == 204 || status == 304 || method == RequestMethod::Head)
            framing = Framing::None;
        else if (status == 101 || (method == RequestMethod::Connect && status >= 200 && status < 300))
            framing = Framing::Tunnel;
        else
            framing = byHeaders(Framing::UntilClose);
    }

    Event &event = add(events, Event::Type::Head);
    event.head = std::move(head);
    if (framing == Framing::Fixed)
        event.bodyLength = length;
    switch (framing) {
    case Framing::None:
        endMessage(events);
        break;
    case Framing::Fixed:
        m_state = State::Fixed;
        m_remaining = length;
        break;
    case Framing::Chunked:
        m_state = State::ChunkLine;
        m_line.clear();
        break;
    case Framing::UntilClose:
        m_state = State::UntilClose;
        break;
    case Framing::Tunnel:
        endMessage(events);
        m_state = State::Tunnel;
        break;
    }
}

void HttpMessageStream::feed(QByteArrayView data, QList<Event> *events)
{
    // Every event appended while looking at a run of bytes ends where the
    // run ends; stamped when the run is done.
    const char *const start = data.data();
    qsizetype stamped = events->size();
    const auto stamp = [&] {
        const qsizetype end = data.data() - start;
        for (; stamped < events->size(); ++stamped)
            (*events)[stamped].end = end;
    };
    const auto stampAll = qScopeGuard([&] {
        // Early returns below used all the bytes they were given.
        data = data.sliced(data.size());
        stamp();
    });
    while (!data.isEmpty()) {
        stamp();
        switch (m_state) {
        case State::Head: {
            qsizetype used = 0;
            const HttpHeadParser::Status status = m_heads.feed(data, &used);
            data = data.sliced(used);
            if (status == HttpHeadParser::Status::NeedMore)
                return;
            if (status == HttpHeadParser::Status::Invalid) {
                m_state = State::NotHttp;
                add(events, Event::Type::NotHttp);
                return;
            }
            HttpHead head = m_heads.takeHead();
            m_heads.reset();
            startBody(head, events);
            break;
        }
        case State::Fixed:
        case State::ChunkData: {
            const qsizetype n = qsizetype(qMin<quint64>(m_remaining, quint64(data.size())));
            add(events, Event::Type::Body, data.first(n));
            data = data.sliced(n);
            passBody(quint64(n), events);
            break;
        }
        case State::ChunkLine:
        case State::ChunkDataEnd:
        case State::Trailers: {
            bool complete = false;
            data = data.sliced(takeLine(data, &complete));
            if (!complete) {
                if (m_line.size() > MaxLine) {
                    m_state = State::NotHttp;
                    add(events, Event::Type::NotHttp);
                }
                return;
            }
            // Followed the lenient way (whitespace trimmed, LF alone ends a
            // line) and flagged where a strict reader would not follow; the
            // flag is set before any later event may move this one.
            Event &framing = add(events, Event::Type::Framing);
            framing.framing = m_line;
            const auto judge = [this, &framing](Event::Line kind, bool strict) {
                framing.line = kind;
                if (!strict) {
                    framing.flags = HttpHead::LaxChunkFraming;
                    m_bodyFlags |= HttpHead::LaxChunkFraming;
                }
            };
            const QByteArrayView line = trimmed(m_line);
            if (m_state == State::ChunkDataEnd) {
                // The CRLF after a chunk's data.
                if (!line.isEmpty()) {
                    m_state = State::NotHttp;
                    add(events, Event::Type::NotHttp);
                    return;
                }
                judge(Event::Line::ChunkDataEnd, m_line == "\r\n");
                m_state = State::ChunkLine;
            } else if (m_state == State::Trailers) {
                if (line.isEmpty()) {
                    judge(Event::Line::TrailersEnd, m_line == "\r\n");
                    endMessage(events);
                } else {
                    judge(Event::Line::Trailer, HttpSyntax::isTrailerLine(m_line));
                }
            } else {
                // chunk-size [; extensions]
                quint64 size = 0;
                qsizetype digits = 0;
                for (const char c : line) {
                    const int value = (c >= '0' && c <= '9') ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
                    if (value < 0)
                        break;
                    if (++digits > 15) {
                        digits = 0;
                        break;
                    }
                    size = size * 16 + quint64(value);
                }
                const bool valid = digits > 0 && (digits == line.size() || line[digits] == ';'
                                                  || line[digits] == ' ' || line[digits] == '\t');
                if (!valid) {
                    m_state = State::NotHttp;
                    add(events, Event::Type::NotHttp);
                    return;
                }
                framing.bodyLength = size;
                judge(Event::Line::ChunkSize, HttpSyntax::isChunkSizeLine(m_line));
                if (size == 0) {
                    m_state = State::Trailers;
                } else {
                    m_state = State::ChunkData;
                    m_remaining = size;
                }
            }
            m_line.clear();
            break;
        }
        case State::UntilClose:
            add(events, Event::Type::Body, data);
            return;
        case State::Tunnel:
            add(events, Event::Type::Tunnel, data);
            return;
        case State::NotHttp:
            return;
        }
    }
}

quint64 HttpMessageStream::bodyBytesAhead() const
{
    switch (m_state) {
    case State::Fixed:
    case State::ChunkData:
        return m_remaining;
    case State::UntilClose:
        return std::numeric_limits<qint64>::max();
    default:
        return 0;
    }
}

void HttpMessageStream::passBody(quint64 n, QList<Event> *events)
{
    Q_ASSERT(n <= bodyBytesAhead());
    if (m_state == State::UntilClose || n == 0)
        return;
    m_remaining -= n;
    if (m_remaining > 0)
        return;
    if (m_state == State::Fixed) {
        endMessage(events);
    } else {
        m_state = State::ChunkDataEnd;
        m_line.clear();
    }
}

void HttpMessageStream::finish(QList<Event> *events)
{
    switch (m_state) {
    case State::UntilClose:
        endMessage(events);
        break;
    case State::Fixed:
    case State::ChunkLine:
    case State::ChunkData:
    case State::ChunkDataEnd:
    case State::Trailers:
        endMessage(events, HttpHead::BodyShort);
        break;
    case State::Head:
    case State::Tunnel:
    case State::NotHttp:
        break;
    }
}
