#include "referencereaders.h"

#include <QStringList>

namespace ReferenceReaders {

namespace {

using LineEnd = Rules::LineEnd;

enum class Got { Line, More, Error };

bool isTokenByte(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        || (c != 0 && QByteArrayView("!#$%&'*+-.^_`|~").contains(c));
}

bool isControl(char c)
{
    const uchar u = uchar(c);
    return (u < 0x20 && u != '\t') || u == 0x7f;
}

bool allToken(QByteArrayView text)
{
    if (text.isEmpty())
        return false;
    for (const char c : text) {
        if (!isTokenByte(c))
            return false;
    }
    return true;
}

bool anyControl(QByteArrayView text)
{
    for (const char c : text) {
        if (isControl(c))
            return true;
    }
    return false;
}

QByteArrayView trimmed(QByteArrayView text)
{
    while (!text.isEmpty() && (text.front() == ' ' || text.front() == '\t'))
        text = text.sliced(1);
    while (!text.isEmpty() && (text.back() == ' ' || text.back() == '\t'))
        text.chop(1);
    return text;
}

// One line from at, by the rule; *line without its end, *next past it.
Got readLine(QByteArrayView bytes, qsizetype at, LineEnd end, bool strict, QByteArrayView *line, qsizetype *next)
{
    const qsizetype size = bytes.size();
    switch (end) {
    case LineEnd::Crlf:
        for (qsizetype i = at; i < size; ++i) {
            if (bytes[i] == '\r') {
                if (i + 1 == size)
                    return Got::More;
                if (bytes[i + 1] == '\n') {
                    *line = bytes.sliced(at, i - at);
                    *next = i + 2;
                    return Got::Line;
                }
                if (strict)
                    return Got::Error;
            } else if (bytes[i] == '\n' && strict) {
                return Got::Error;
            }
        }
        return Got::More;
    case LineEnd::Lf: {
        const qsizetype lf = bytes.indexOf('\n', at);
        if (lf < 0)
            return Got::More;
        *line = bytes.sliced(at, lf - at);
        if (line->endsWith('\r'))
            line->chop(1);
        *next = lf + 1;
        return Got::Line;
    }
    case LineEnd::CrOrLf:
        for (qsizetype i = at; i < size; ++i) {
            if (bytes[i] == '\n') {
                *line = bytes.sliced(at, i - at);
                *next = i + 1;
                return Got::Line;
            }
            if (bytes[i] == '\r') {
                if (i + 1 == size)
                    return Got::More;
                *line = bytes.sliced(at, i - at);
                *next = bytes[i + 1] == '\n' ? i + 2 : i + 1;
                return Got::Line;
            }
        }
        return Got::More;
    }
    return Got::Error;
}

struct Head
{
    QByteArray method;
    QByteArray target;
    QByteArray version;
    QList<QPair<QByteArray, QByteArray>> fields;

    QList<QByteArray> values(QByteArrayView name) const
    {
        QList<QByteArray> out;
        for (const auto &[n, v] : fields) {
            if (QByteArrayView(n).compare(name, Qt::CaseInsensitive) == 0)
                out.append(v);
        }
        return out;
    }
};

// Reads one request from *at: returns false when it needs more bytes
// (*error empty) or is an error (*error says why).
class OneReader
{
public:
    OneReader(QByteArrayView bytes, const Rules &rules) : m_bytes(bytes), m_rules(rules) {}

    Got head(qsizetype *at, Head *head, QString *error);
    Got body(qsizetype *at, const Head &head, QString *error);

private:
    Got chunked(qsizetype *at, QString *error);

    QByteArrayView m_bytes;
    const Rules &m_rules;
};

Got OneReader::head(qsizetype *at, Head *head, QString *error)
{
    const bool strict = m_rules.strict;
    QByteArrayView line;
    qsizetype next = *at;
    // Empty lines before a request line are ignored (RFC 9112 2.2).
    for (;;) {
        const Got got = readLine(m_bytes, *at, m_rules.headLines, strict, &line, &next);
        if (got != Got::Line) {
            *error = QStringLiteral("request line");
            return got;
        }
        if (!line.isEmpty())
            break;
        *at = next;
    }
    qsizetype position = next;
    if (strict) {
        const QList<QByteArray> parts = line.toByteArray().split(' ');
        if (parts.size() != 3 || !allToken(parts[0]) || parts[1].isEmpty() || anyControl(parts[1])
            || (parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0")) {
            *error = QStringLiteral("bad request line");
            return Got::Error;
        }
        head->method = parts[0];
        head->target = parts[1];
        head->version = parts[2];
    } else {
        const qsizetype first = line.indexOf(' ');
        const qsizetype second = first < 0 ? -1 : line.indexOf(' ', first + 1);
        if (first <= 0 || second < 0) {
            *error = QStringLiteral("bad request line");
            return Got::Error;
        }
        head->method = line.first(first).toByteArray();
        head->target = line.sliced(first + 1, second - first - 1).toByteArray();
        head->version = trimmed(line.sliced(second + 1)).toByteArray();
        if (!head->version.startsWith("HTTP/1.")) {
            *error = QStringLiteral("bad version");
            return Got::Error;
        }
    }
    for (;;) {
        const Got got = readLine(m_bytes, position, m_rules.headLines, strict, &line, &next);
        if (got != Got::Line) {
            *error = QStringLiteral("header line");
            return got;
        }
        position = next;
        if (line.isEmpty())
            break;
        if (line.front() == ' ' || line.front() == '\t') {
            if (strict || head->fields.isEmpty()) {
                *error = QStringLiteral("folded line");
                return Got::Error;
            }
            head->fields.last().second += ' ' + trimmed(line).toByteArray();
            continue;
        }
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0) {
            if (strict) {
                *error = QStringLiteral("line without a colon");
                return Got::Error;
            }
            continue;
        }
        const QByteArrayView name = line.first(colon);
        const QByteArrayView value = trimmed(line.sliced(colon + 1));
        if (strict && (!allToken(name) || anyControl(value))) {
            *error = QStringLiteral("bad field");
            return Got::Error;
        }
        head->fields.append({trimmed(name).toByteArray(), value.toByteArray()});
    }
    *at = position;
    return Got::Line;
}

Got OneReader::body(qsizetype *at, const Head &head, QString *error)
{
    const QList<QByteArray> codings = head.values("Transfer-Encoding");
    const QList<QByteArray> lengths = head.values("Content-Length");
    bool isChunked = false;
    quint64 length = 0;
    if (m_rules.strict) {
        if (!codings.isEmpty()) {
            QList<QByteArray> items;
            for (const QByteArray &value : codings) {
                for (const QByteArray &item : value.split(','))
                    items.append(trimmed(item).toByteArray().toLower());
            }
            if (head.version == "HTTP/1.0" || !lengths.isEmpty() || items.last() != "chunked"
                || items.count("chunked") != 1) {
                *error = QStringLiteral("bad framing");
                return Got::Error;
            }
            isChunked = true;
        } else {
            bool seen = false;
            for (const QByteArray &value : lengths) {
                for (const QByteArray &item : value.split(',')) {
                    const QByteArrayView digits = trimmed(item);
                    bool ok = !digits.isEmpty() && digits.size() < 19;
                    for (const char c : digits)
                        ok = ok && c >= '0' && c <= '9';
                    const quint64 n = ok ? digits.toByteArray().toULongLong() : 0;
                    if (!ok || (seen && n != length)) {
                        *error = QStringLiteral("bad length");
                        return Got::Error;
                    }
                    length = n;
                    seen = true;
                }
            }
        }
    } else {
        const bool teChunked = !codings.isEmpty() && codings.join(',').toLower().contains("chunked");
        isChunked = teChunked && !(m_rules.contentLengthWins && !lengths.isEmpty());
        if (!isChunked && !lengths.isEmpty()) {
            const QByteArrayView value = trimmed(lengths.first());
            qsizetype digits = 0;
            while (digits < value.size() && digits < 18 && value[digits] >= '0' && value[digits] <= '9')
                ++digits;
            if (digits == 0) {
                *error = QStringLiteral("bad length");
                return Got::Error;
            }
            length = value.first(digits).toByteArray().toULongLong();
        }
    }
    if (isChunked)
        return chunked(at, error);
    if (quint64(m_bytes.size() - *at) < length) {
        *error = QStringLiteral("body");
        return Got::More;
    }
    *at += qsizetype(length);
    return Got::Line;
}

Got OneReader::chunked(qsizetype *at, QString *error)
{
    const bool strict = m_rules.strict;
    qsizetype position = *at;
    QByteArrayView line;
    qsizetype next = 0;
    for (;;) {
        Got got = readLine(m_bytes, position, m_rules.chunkLines, strict, &line, &next);
        if (got != Got::Line) {
            *error = QStringLiteral("chunk size");
            return got;
        }
        position = next;
        QByteArrayView text = strict ? line : trimmed(line);
        qsizetype digits = 0;
        quint64 size = 0;
        while (digits < text.size() && QByteArrayView("0123456789abcdefABCDEF").contains(text[digits])) {
            size = size * 16 + quint64(QByteArray(1, text[digits]).toUInt(nullptr, 16));
            if (++digits > 15) {
                *error = QStringLiteral("chunk size too long");
                return Got::Error;
            }
        }
        if (digits == 0) {
            *error = QStringLiteral("no chunk size");
            return Got::Error;
        }
        if (strict) {
            const QByteArrayView rest = trimmed(text.sliced(digits));
            if ((!rest.isEmpty() && rest.front() != ';') || (rest.isEmpty() && digits != text.size())
                || anyControl(rest)) {
                *error = QStringLiteral("bad chunk extension");
                return Got::Error;
            }
        }
        if (size == 0)
            break;
        if (quint64(m_bytes.size() - position) < size) {
            *error = QStringLiteral("chunk data");
            return Got::More;
        }
        position += qsizetype(size);
        // The line end after the data.
        const QByteArrayView after = m_bytes.sliced(position);
        qsizetype skip = 0;
        if (after.startsWith("\r\n"))
            skip = 2;
        else if (after.size() < 2 && (after.isEmpty() || after == "\r"))
            return Got::More;
        else if (!strict && m_rules.chunkLines == LineEnd::Lf && after.startsWith('\n'))
            skip = 1;
        else if (!strict && m_rules.chunkLines == LineEnd::CrOrLf && (after.startsWith('\n') || after.startsWith('\r')))
            skip = 1;
        if (skip == 0) {
            *error = QStringLiteral("no line end after chunk data");
            return Got::Error;
        }
        position += skip;
    }
    // Trailers, up to the line that ends them.
    for (;;) {
        const Got got = readLine(m_bytes, position, m_rules.chunkLines, strict, &line, &next);
        if (got != Got::Line) {
            *error = QStringLiteral("trailers");
            return got;
        }
        position = next;
        const bool ends = m_rules.chunkLines == LineEnd::Lf && !strict ? trimmed(line).isEmpty() : line.isEmpty();
        if (ends)
            break;
        if (strict) {
            const qsizetype colon = line.indexOf(':');
            if (colon <= 0 || !allToken(line.first(colon)) || anyControl(line)) {
                *error = QStringLiteral("bad trailer");
                return Got::Error;
            }
        }
    }
    *at = position;
    return Got::Line;
}

bool closes(const Head &head)
{
    for (const QByteArray &value : head.values("Connection")) {
        for (const QByteArray &item : value.split(',')) {
            if (trimmed(item).compare("close", Qt::CaseInsensitive) == 0)
                return true;
        }
    }
    return head.version == "HTTP/1.0" && head.values("Connection").join(',').toLower().indexOf("keep-alive") < 0;
}

} // namespace

Reading read(QByteArrayView bytes, const Rules &rules)
{
    Reading reading;
    OneReader reader(bytes, rules);
    qsizetype at = 0;
    while (at < bytes.size()) {
        Head head;
        const qsizetype begin = at;
        qsizetype position = at;
        QString error;
        Got got = reader.head(&position, &head, &error);
        if (got == Got::Line) {
            Request request{head.method, head.target, begin, position, closes(head)};
            const qsizetype headEnd = position;
            got = reader.body(&position, head, &error);
            request.end = got == Got::Line ? position : headEnd;
            if (got == Got::Line) {
                reading.requests.append(request);
                at = position;
                if (request.closes)
                    break; // the server closes: what follows is never read
                continue;
            }
            reading.partial = request;
        } else {
            reading.partial.begin = begin;
        }
        reading.outcome = got == Got::More ? Reading::Outcome::Partial : Reading::Outcome::Error;
        reading.stop = begin;
        reading.error = error;
        // Empty lines alone are not a request under way.
        if (got == Got::More && QByteArrayView(bytes).sliced(begin).trimmed().isEmpty())
            reading.outcome = Reading::Outcome::Complete;
        break;
    }
    return reading;
}

QString Reading::summary() const
{
    QStringList parts;
    for (const Request &request : requests)
        parts.append(QStringLiteral("%1 %2 [%3,%4)").arg(QString::fromLatin1(request.method),
                                                       QString::fromLatin1(request.target.toPercentEncoding("/?=&:")))
                         .arg(request.begin).arg(request.end));
    switch (outcome) {
    case Outcome::Complete:
        break;
    case Outcome::Partial:
        parts.append(partial.end > 0 ? QStringLiteral("partial %1 %2 @%3 head to %4")
                                           .arg(QString::fromLatin1(partial.method),
                                                QString::fromLatin1(partial.target.toPercentEncoding("/?=&:")))
                                           .arg(stop).arg(partial.end)
                                     : QStringLiteral("partial head @%1").arg(stop));
        break;
    case Outcome::Error:
        parts.append(QStringLiteral("error @%1").arg(stop));
        break;
    }
    return parts.join(QStringLiteral(" | "));
}

const QList<Rules> &all()
{
    static const QList<Rules> readers = {
        {"strict RFC 9112", LineEnd::Crlf, LineEnd::Crlf, true, false},
        {"LF ends lines", LineEnd::Lf, LineEnd::Lf, false, false},
        {"bare CR ends lines", LineEnd::CrOrLf, LineEnd::CrOrLf, false, false},
        {"chunk lines end at CRLF only", LineEnd::Lf, LineEnd::Crlf, false, false},
        {"Content-Length wins", LineEnd::Lf, LineEnd::Lf, false, true},
    };
    return readers;
}

QString disagreement(QByteArrayView bytes)
{
    QStringList lines;
    bool differ = false;
    QString first;
    for (const Rules &rules : all()) {
        const QString summary = read(bytes, rules).summary();
        if (lines.isEmpty())
            first = summary;
        differ = differ || summary != first;
        lines.append(QStringLiteral("%1: %2").arg(QLatin1String(rules.name), summary));
    }
    return differ ? lines.join(QLatin1Char('\n')) : QString();
}

} // namespace ReferenceReaders
