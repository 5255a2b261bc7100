#include "curlcommand.h"

#include "bytetext.h"

#include <QList>

namespace {

// Bytes a single-quoted word may hold as they are: printable ASCII (but the
// quote itself), tab, line feed, and whole UTF-8 sequences, which a
// clipboard carries.
// Everything else is spelled for printf, so what is pasted stays plain text
// and a terminal never sees a control byte.
qsizetype literalLength(QByteArrayView bytes, qsizetype i)
{
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\'')
        return 0;
    if ((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n')
        return 1;
    return c >= 0x80 ? ByteText::utf8Length(bytes, i) : 0;
}

void appendOctal(QByteArray &out, unsigned char c)
{
    out.append('\\');
    out.append(char('0' + (c >> 6)));
    out.append(char('0' + ((c >> 3) & 7)));
    out.append(char('0' + (c & 7)));
}

// A printf format that prints the bytes: printable ASCII as itself (with
// % and \ doubled up), every other byte as an octal escape.
QByteArray printfFormat(QByteArrayView bytes)
{
    QByteArray out;
    out.reserve(bytes.size() + 2);
    out.append('\'');
    for (const char byte : bytes) {
        const unsigned char c = static_cast<unsigned char>(byte);
        if (c == '%')
            out.append("%%");
        else if (c == '\\')
            out.append("\\\\");
        else if (c >= 0x20 && c < 0x7f && c != '\'')
            out.append(byte);
        else
            appendOctal(out, c);
    }
    out.append('\'');
    return out;
}

// Text that survives a paste into a terminal as it is: no control bytes but
// tab and line feed (a CR would be read as Enter), valid UTF-8, and small
// enough for one argument.
bool pastesAsText(QByteArrayView bytes)
{
    if (bytes.size() > 64 * 1024)
        return false;
    for (qsizetype i = 0; i < bytes.size();) {
        const qsizetype length = literalLength(bytes, i);
        if (length == 0 && bytes[i] != '\'')
            return false;
        i += qMax<qsizetype>(length, 1);
    }
    return true;
}

bool isDotSegmentPath(QByteArrayView target)
{
    qsizetype end = target.indexOf('?');
    const QByteArrayView path = end < 0 ? target : target.first(end);
    for (const QByteArrayView segment : {QByteArrayView("/./"), QByteArrayView("/../")}) {
        if (path.contains(segment))
            return true;
    }
    return path.endsWith("/.") || path.endsWith("/..");
}

// Headers that spoke to the proxy, not to the server.
bool isProxyOnly(QByteArrayView name)
{
    return name.compare("proxy-connection", Qt::CaseInsensitive) == 0
        || name.compare("proxy-authorization", Qt::CaseInsensitive) == 0;
}

bool hasHeader(const HttpHead &head, QByteArrayView name)
{
    for (const HttpHead::Header &header : head.headers) {
        if (head.name(header).compare(name, Qt::CaseInsensitive) == 0)
            return true;
    }
    return false;
}

// The header's line as the client wrote it (spacing after the colon kept),
// or name and value joined when the parser had to assemble the value.
QByteArray headerLine(const HttpHead &head, const HttpHead::Header &header)
{
    const qsizetype end = qsizetype(header.value.offset) + header.value.size;
    if (header.value.size > 0 && end <= head.raw.size() && header.value.offset > header.name.offset)
        return head.raw.sliced(header.name.offset, end - header.name.offset);
    if (header.value.size == 0)
        return head.name(header).toByteArray() + ';'; // curl's way of sending "Name:" with nothing
    return head.name(header).toByteArray() + ": " + head.value(header).toByteArray();
}

QByteArray authorityOf(QByteArrayView url)
{
    const qsizetype start = url.indexOf("://");
    if (start < 0)
        return {};
    const QByteArrayView rest = url.sliced(start + 3);
    qsizetype end = rest.size();
    for (const char stop : {'/', '?', '#'}) {
        const qsizetype at = rest.indexOf(stop);
        if (at >= 0 && at < end)
            end = at;
    }
    return rest.first(end).toByteArray();
}

} // namespace

QByteArray CurlCommand::shellWord(QByteArrayView bytes)
{
    if (bytes.isEmpty())
        return "''";
    QByteArray out;
    bool quoted = false;
    for (qsizetype i = 0; i < bytes.size();) {
        const qsizetype length = literalLength(bytes, i);
        if (length > 0) {
            if (!quoted)
                out.append('\'');
            quoted = true;
            out.append(bytes.sliced(i, length));
            i += length;
            continue;
        }
        if (quoted)
            out.append('\'');
        quoted = false;
        if (bytes[i] == '\'') {
            out.append("\\'");
            ++i;
            continue;
        }
        qsizetype end = i;
        while (end < bytes.size() && bytes[end] != '\'' && literalLength(bytes, end) == 0)
            ++end;
        // Line feeds are literal above, so no trailing one is lost to the
        // command substitution.
        out.append("\"$(printf ").append(printfFormat(bytes.sliced(i, end - i))).append(")\"");
        i = end;
    }
    if (quoted)
        out.append('\'');
    return out;
}

QByteArray CurlCommand::printfCommands(QByteArrayView bytes)
{
    constexpr qsizetype Piece = 16 * 1024; // at most four bytes of format each: 64 KiB per argument
    QList<QByteArray> commands;
    for (qsizetype at = 0; at < bytes.size(); at += Piece)
        commands.append("printf " + printfFormat(bytes.sliced(at, qMin(Piece, bytes.size() - at))));
    if (commands.size() == 1)
        return commands.first();
    return "{ " + commands.join("\n  ") + "\n}";
}

bool CurlCommand::canBuild(const HttpExchange &exchange)
{
    return !exchange.request.isEmpty() && exchange.request.method() != "CONNECT";
}

QByteArray CurlCommand::build(const HttpExchange &exchange, Style style)
{
    if (!canBuild(exchange))
        return {};
    const HttpHead &request = exchange.request;
    const bool faithful = style == Style::Faithful;
    const QByteArray url = exchange.url();
    const QByteArrayView method = request.method();
    const QByteArray &body = exchange.requestBody;

    QList<QByteArray> args;
    args.append("curl");
    if (isDotSegmentPath(request.target()))
        args.append("--path-as-is");
    if (url.contains('[') || url.contains(']') || url.contains('{') || url.contains('}'))
        args.append("--globoff");
    if (request.version() == "HTTP/1.0")
        args.append("--http1.0");
    else if (url.startsWith("https://"))
        args.append("--http1.1"); // not h2: the request was HTTP/1.1
    if (!faithful)
        args.append("--compressed");

    // curl infers GET, or POST with a body; HEAD needs --head, or curl
    // would wait for a body that never comes.
    if (method == "HEAD")
        args.append("--head");
    else if (method != (body.isEmpty() ? "GET" : "POST"))
        args.append("--request " + shellWord(method));

    if (faithful) {
        // Off with curl's own headers; the recorded ones follow in order.
        QList<QByteArrayView> defaults = {"Host", "User-Agent", "Accept"};
        if (!body.isEmpty()) {
            defaults.append("Content-Type");
            defaults.append("Expect");
        }
        for (const QByteArrayView name : std::as_const(defaults)) {
            if (!hasHeader(request, name) || name == "Host")
                args.append("--header " + shellWord(name.toByteArray() + ':'));
        }
    }
    const QByteArray authority = authorityOf(url);
    // A body kept in part: curl counts what it sends.
    const bool partBody = quint64(body.size()) < exchange.requestBodyBytes;
    for (const HttpHead::Header &header : request.headers) {
        const QByteArrayView name = request.name(header);
        if (isProxyOnly(name))
            continue;
        if (partBody && name.compare("content-length", Qt::CaseInsensitive) == 0)
            continue;
        if (!faithful) {
            if (name.compare("content-length", Qt::CaseInsensitive) == 0
                || name.compare("accept-encoding", Qt::CaseInsensitive) == 0)
                continue;
            if (name.compare("host", Qt::CaseInsensitive) == 0 && request.value(header) == authority)
                continue;
        }
        args.append("--header " + shellWord(headerLine(request, header)));
    }

    QByteArray input;
    if (!body.isEmpty()) {
        if (pastesAsText(body)) {
            args.append("--data-binary " + shellWord(body));
        } else {
            input = printfCommands(body) + " |\n";
            args.append("--data-binary @-");
        }
    }
    args.append(shellWord(url));

    QByteArray out;
    if (partBody) {
        out += "# proxymon kept " + QByteArray::number(body.size()) + " of "
            + QByteArray::number(exchange.requestBodyBytes) + " body bytes: this sends the part kept\n";
    }
    return out + input + args.join(" \\\n  ") + '\n';
}
