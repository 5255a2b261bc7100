#include "httpsyntax.h"

#include <cstring>

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

// tchar as a table: a head's names are checked byte by byte on every
// request, and a lookup is what keeps that cheap.
struct TokenTable
{
    bool allowed[256] = {};
    constexpr TokenTable()
    {
        for (int c = '0'; c <= '9'; ++c)
            allowed[c] = true;
        for (int c = 'a'; c <= 'z'; ++c)
            allowed[c] = allowed[c - 'a' + 'A'] = true;
        for (const char c : {'!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~'})
            allowed[uchar(c)] = true;
    }
};
constexpr TokenTable Tokens;

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
    return Tokens.allowed[uchar(c)];
}

bool HttpSyntax::isToken(QByteArrayView text)
{
    if (text.isEmpty())
        return false;
    // The table, not isTokenChar(): GCC calls that out of line here.
    for (const char c : text) {
        if (!Tokens.allowed[uchar(c)])
            return false;
    }
    return true;
}

bool HttpSyntax::isFieldValue(QByteArrayView value)
{
    // Eight bytes at a time: a word with no byte below 0x20 and none equal
    // to 0x7f holds no control (obs-text, 0x80 and up, never looks like
    // one); a word that may is looked at byte by byte, where HTAB passes.
    constexpr quint64 Ones = 0x0101010101010101ull;
    constexpr quint64 Highs = 0x8080808080808080ull;
    const char *at = value.data();
    qsizetype left = value.size();
    for (; left >= 8; at += 8, left -= 8) {
        quint64 word;
        std::memcpy(&word, at, sizeof word);
        const quint64 del = word ^ (Ones * 0x7f);
        if ((((word - Ones * 0x20) & ~word) | ((del - Ones) & ~del)) & Highs) {
            for (int i = 0; i < 8; ++i) {
                if (isControl(uchar(at[i])))
                    return false;
            }
        }
    }
    for (; left > 0; ++at, --left) {
        if (isControl(uchar(*at)))
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
