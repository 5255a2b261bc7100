#include "httpsyntax.h"

namespace {

bool isWhitespace(char c)
{
    return c == ' ' || c == '\t';
}

bool isControl(uchar c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

bool isHexDigit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The bytes of a line before its CRLF; false when it does not end in CRLF
// or holds another CR or LF.
bool lineContent(QByteArrayView line, QByteArrayView *content)
{
    if (!line.endsWith("\r\n"))
        return false;
    *content = line.first(line.size() - 2);
    return !content->contains('\r') && !content->contains('\n');
}

} // namespace

QByteArrayView HttpSyntax::framingHeader(QByteArrayView name)
{
    for (QByteArrayView framing : {QByteArrayView("Content-Length"), QByteArrayView("Transfer-Encoding"),
                                   QByteArrayView("Host")}) {
        if (sameName(name, framing))
            return framing;
    }
    return QByteArrayView();
}

bool HttpSyntax::isTokenChar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

bool HttpSyntax::isToken(QByteArrayView text)
{
    if (text.isEmpty())
        return false;
    for (const char c : text) {
        if (!isTokenChar(c))
            return false;
    }
    return true;
}

bool HttpSyntax::isFieldValue(QByteArrayView value)
{
    for (const char c : value) {
        if (isControl(uchar(c)))
            return false;
    }
    return true;
}

bool HttpSyntax::isChunkSizeLine(QByteArrayView line)
{
    QByteArrayView text;
    if (!lineContent(line, &text))
        return false;
    const qsizetype size = text.size();
    qsizetype at = 0;
    const auto skipWhitespace = [&] {
        while (at < size && isWhitespace(text[at]))
            ++at;
    };
    const auto token = [&] {
        const qsizetype start = at;
        while (at < size && isTokenChar(text[at]))
            ++at;
        return at > start;
    };
    // DQUOTE *( qdtext / quoted-pair ) DQUOTE
    const auto quoted = [&] {
        if (at >= size || text[at] != '"')
            return false;
        for (++at; at < size; ++at) {
            if (text[at] == '"') {
                ++at;
                return true;
            }
            if (text[at] == '\\' && ++at >= size)
                return false;
            if (isControl(uchar(text[at])))
                return false;
        }
        return false;
    };
    while (at < size && isHexDigit(text[at]))
        ++at;
    if (at == 0)
        return false;
    // *( BWS ";" BWS name [ BWS "=" BWS value ] )
    while (at < size) {
        skipWhitespace();
        if (at == size || text[at] != ';')
            return false;
        ++at;
        skipWhitespace();
        if (!token())
            return false;
        const qsizetype afterName = at;
        skipWhitespace();
        if (at < size && text[at] == '=') {
            ++at;
            skipWhitespace();
            if (!token() && !quoted())
                return false;
        } else {
            at = afterName;
        }
    }
    return true;
}

bool HttpSyntax::isTrailerLine(QByteArrayView line)
{
    QByteArrayView text;
    if (!lineContent(line, &text))
        return false;
    const qsizetype colon = text.indexOf(':');
    return colon > 0 && isToken(text.first(colon)) && isFieldValue(text.sliced(colon + 1));
}
