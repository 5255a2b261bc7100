#include "httpheadparser.h"

#include "httpsyntax.h"

#include <algorithm>

namespace {

QByteArrayView trimmedWhitespace(QByteArrayView text)
{
    qsizetype begin = 0;
    qsizetype end = text.size();
    while (begin < end && (text[begin] == ' ' || text[begin] == '\t'))
        ++begin;
    while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t'))
        --end;
    return text.sliced(begin, end - begin);
}

// Whether a start line (with its line feed) ends in " HTTP/...".
bool endsWithVersion(QByteArrayView line)
{
    line.chop(1);
    if (line.endsWith('\r'))
        line.chop(1);
    const qsizetype space = line.lastIndexOf(' ');
    return space > 0 && line.sliced(space + 1).startsWith("HTTP/");
}

// Whether a head holds a byte that readers disagree on: a control
// character other than HTAB and the line ends, or a CR that does not end a
// line. A head cut at the cap may end in the CR of its last line.
bool hasStrayControl(QByteArrayView bytes, bool truncated)
{
    const char *const data = bytes.data();
    const qsizetype size = bytes.size();
    for (qsizetype i = 0; i < size; ++i) {
        const uchar c = uchar(data[i]);
        if ((c >= 0x20 && c != 0x7f) || c == '\n' || c == '\t')
            continue;
        if (c == '\r' && (i + 1 < size ? data[i + 1] == '\n' : truncated))
            continue;
        return true;
    }
    return false;
}

// Longest method we take for HTTP; longer "methods" are another protocol.
constexpr qsizetype MaxMethod = 32;
// Bytes of a direction checked by plausibleStart() while feeding.
constexpr qsizetype PlausibilityWindow = MaxMethod + 1;

} // namespace

HttpHeadParser::HttpHeadParser(HttpHead::Kind kind)
    : HttpHeadParser(kind, Limits())
{
}

HttpHeadParser::HttpHeadParser(HttpHead::Kind kind, Limits limits)
    : m_kind(kind)
    , m_limits(limits)
{
}

void HttpHeadParser::reset()
{
    m_kept.clear();
    m_seen = 0;
    m_lineFeeds = 0;
    m_started = false;
    m_startLineSeen = false;
    m_head = HttpHead();
}

HttpHead HttpHeadParser::takeHead()
{
    HttpHead head = std::move(m_head);
    m_head = HttpHead();
    return head;
}

bool HttpHeadParser::plausibleStart(QByteArrayView bytes, HttpHead::Kind kind)
{
    if (kind == HttpHead::Kind::Response) {
        static constexpr QByteArrayView prefix("HTTP/");
        const qsizetype n = qMin(bytes.size(), prefix.size());
        return bytes.first(n) == prefix.first(n);
    }
    for (qsizetype i = 0; i < bytes.size(); ++i) {
        if (bytes[i] == ' ')
            return i > 0;
        if (!HttpSyntax::isTokenChar(bytes[i]) || i >= MaxMethod)
            return false;
    }
    return true;
}

HttpHeadParser::Status HttpHeadParser::feed(QByteArrayView data, qsizetype *used)
{
    qsizetype i = 0;
    if (!m_started) {
        // RFC 9112 2.2: ignore empty lines before a request line (some
        // clients send CRLF after a POST body).
        while (i < data.size() && (data[i] == '\r' || data[i] == '\n'))
            ++i;
        if (i == data.size()) {
            *used = i;
            return Status::NeedMore;
        }
        m_started = true;
    }
    // A head that starts in this call is looked at where it lies and copied
    // once, when the call ends: one exact allocation for the usual head
    // that arrives whole, and it becomes the head's raw bytes.
    const bool direct = m_kept.isEmpty();
    const qsizetype headStart = i;
    const auto soFar = [&](qsizetype end) {
        return direct ? data.sliced(headStart, qMin(end - headStart, m_limits.maxBytes)) : QByteArrayView(m_kept);
    };
    // Work in runs up to each line feed, so that the cost is a scan (and a
    // copy, for a head that started earlier) per run rather than per byte.
    while (i < data.size()) {
        const qsizetype newline = data.indexOf('\n', i);
        const qsizetype end = newline < 0 ? data.size() : newline + 1;
        const QByteArrayView run = data.sliced(i, end - i);
        const qsizetype seenBefore = m_seen;
        if (!direct) {
            const qsizetype room = m_limits.maxBytes - m_kept.size();
            if (room > 0)
                m_kept.append(run.first(qMin(room, run.size())));
        }
        m_seen += run.size();
        if (seenBefore < PlausibilityWindow) {
            const QByteArrayView start = soFar(end);
            if (!plausibleStart(start.first(qMin<qsizetype>(start.size(), PlausibilityWindow)), m_kind)) {
                *used = end;
                return Status::Invalid;
            }
        }
        // A line of nothing but CRs keeps the count of line feeds in a row.
        const QByteArrayView content = newline < 0 ? run : run.first(run.size() - 1);
        for (const char c : content) {
            if (c != '\r') {
                m_lineFeeds = 0;
                break;
            }
        }
        i = end;
        if (newline < 0)
            break;
        if (!m_startLineSeen) {
            // A request line must end in an HTTP version; anything else
            // (an SSH banner, a Redis command) is another protocol.
            m_startLineSeen = true;
            if (m_kind == HttpHead::Kind::Request && !endsWithVersion(soFar(end))) {
                *used = end;
                return Status::Invalid;
            }
        }
        if (++m_lineFeeds == 2) {
            *used = end;
            const bool truncated = m_seen > m_limits.maxBytes;
            if (direct)
                m_kept = soFar(end).toByteArray();
            m_head = HttpHead();
            parseInto(&m_head, m_kept, m_kind, m_limits.maxHeaders, truncated);
            // The kept bytes become the head's raw bytes without a copy.
            m_head.raw = std::move(m_kept);
            m_kept = QByteArray();
            return Status::Complete;
        }
    }
    if (direct)
        m_kept = soFar(data.size()).toByteArray();
    *used = data.size();
    return Status::NeedMore;
}

HttpHead HttpHeadParser::parse(QByteArrayView bytes, HttpHead::Kind kind, int maxHeaders, bool truncated)
{
    HttpHead head;
    parseInto(&head, bytes, kind, maxHeaders, truncated);
    head.raw = bytes.toByteArray();
    return head;
}

void HttpHeadParser::parseInto(HttpHead *out, QByteArrayView bytes, HttpHead::Kind kind, int maxHeaders, bool truncated)
{
    HttpHead &head = *out;
    head.kind = kind;
    if (truncated)
        head.flags |= HttpHead::Truncated;
    const auto span = [&bytes](QByteArrayView part) {
        return HttpHead::Span{qint32(part.data() - bytes.data()), qint32(part.size())};
    };
    const auto text = [&bytes](HttpHead::Span part) { return bytes.sliced(part.offset, part.size); };
    head.headers.reserve(qMin(maxHeaders, 16));

    bool startLine = true;
    qsizetype position = 0;
    while (position < bytes.size()) {
        qsizetype end = bytes.indexOf('\n', position);
        if (end < 0) {
            // Only a head cut at the cap ends without a line feed: its last
            // line is incomplete and is left out (a CR may end it, cut from
            // its LF; any other control still counts).
            if (hasStrayControl(bytes.sliced(position), truncated))
                head.flags |= HttpHead::ControlCharacter;
            position = bytes.size();
            break;
        }
        QByteArrayView line = bytes.sliced(position, end - position);
        position = end + 1;
        if (line.endsWith('\r'))
            line.chop(1);
        else
            head.flags |= HttpHead::BareLineFeed;
        // Checked line by line, a word at a time: a CR left in the line
        // does not end it.
        if (!HttpSyntax::isFieldValue(line))
            head.flags |= HttpHead::ControlCharacter;
        if (line.isEmpty()) {
            if (startLine)
                continue;
            break; // the blank line that ends the head
        }

        if (startLine) {
            startLine = false;
            const qsizetype firstSpace = line.indexOf(' ');
            const qsizetype lastSpace = line.lastIndexOf(' ');
            if (kind == HttpHead::Kind::Request) {
                if (firstSpace <= 0 || lastSpace == firstSpace) {
                    head.flags |= HttpHead::MalformedLine;
                    head.methodSpan = span(firstSpace > 0 ? line.first(firstSpace) : line);
                    if (firstSpace > 0)
                        head.targetSpan = span(line.sliced(firstSpace + 1));
                    continue;
                }
                head.methodSpan = span(line.first(firstSpace));
                const QByteArrayView between = line.sliced(firstSpace + 1, lastSpace - firstSpace - 1);
                head.targetSpan = span(trimmedWhitespace(between));
                head.versionSpan = span(line.sliced(lastSpace + 1));
                // One space each side of a target that has none inside
                // (RFC 9112 3): "GET /a b HTTP/1.1" is a different request
                // to a server that splits at the first space.
                if (!text(head.versionSpan).startsWith("HTTP/") || !HttpSyntax::isToken(text(head.methodSpan))
                    || head.targetSpan.size == 0 || between.contains(' ') || between.contains('\t'))
                    head.flags |= HttpHead::MalformedLine;
            } else {
                head.versionSpan = span(firstSpace < 0 ? line : line.first(firstSpace));
                const QByteArrayView rest = firstSpace < 0 ? QByteArrayView() : line.sliced(firstSpace + 1);
                const QByteArrayView code = rest.first(qMin<qsizetype>(3, rest.size()));
                const bool digits = code.size() == 3 && std::all_of(code.begin(), code.end(), [](char c) {
                    return c >= '0' && c <= '9';
                });
                if (digits && (rest.size() == 3 || rest[3] == ' ')) {
                    head.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
                    if (rest.size() > 4)
                        head.reasonSpan = span(rest.sliced(4));
                } else {
                    head.flags |= HttpHead::MalformedLine;
                }
                if (!text(head.versionSpan).startsWith("HTTP/"))
                    head.flags |= HttpHead::MalformedLine;
            }
            continue;
        }

        if ((line.front() == ' ' || line.front() == '\t') && !head.headers.isEmpty()) {
            // Obsolete line folding: part of the previous value, which no
            // longer is one run of the raw bytes; it is assembled past them.
            head.flags |= HttpHead::MalformedLine;
            HttpHead::Span &value = head.headers.last().value;
            const qsizetype assembledEnd = bytes.size() + head.assembled.size();
            if (value.offset < bytes.size() || value.offset + value.size != assembledEnd) {
                // Moved to the end of the assembled bytes once; later folds
                // of the same value extend it there, so that many folds stay
                // linear.
                const QByteArray copy = (value.offset < bytes.size()
                                             ? text(value)
                                             : QByteArrayView(head.assembled).sliced(value.offset - bytes.size(), value.size))
                                            .toByteArray();
                value = HttpHead::Span{qint32(assembledEnd), qint32(copy.size())};
                head.assembled += copy;
            }
            const QByteArrayView more = trimmedWhitespace(line);
            head.assembled += ' ';
            head.assembled += more;
            value.size += qint32(1 + more.size());
            continue;
        }
        if (head.headers.size() >= maxHeaders) {
            head.flags |= HttpHead::Truncated;
            continue;
        }
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0) {
            // Kept so that it can be shown, named by the whole line.
            head.flags |= HttpHead::MalformedLine;
            head.headers.append({span(line), HttpHead::Span{span(line).offset, 0}});
            continue;
        }
        const QByteArrayView name = line.first(colon);
        // "Name : value" is a request-smuggling vector: flag it.
        if (!HttpSyntax::isToken(name))
            head.flags |= HttpHead::MalformedLine;
        head.headers.append({span(name), span(trimmedWhitespace(line.sliced(colon + 1)))});
    }
    // Bytes after the blank line, which a head cut by feed() never has.
    if (position < bytes.size() && hasStrayControl(bytes.sliced(position), truncated))
        head.flags |= HttpHead::ControlCharacter;
}
