#pragma once

#include <QByteArray>
#include <QByteArrayView>

// RFC 9110 and 9112's grammar, read strictly: what a strict reader takes
// as it is. Pure functions, shared by the parsers (which follow leniently
// and flag what these reject), the HTTP proxy (which refuses it) and the
// requests proxymon writes itself.
namespace HttpSyntax {

// tchar (RFC 9110 5.6.2).
bool isTokenChar(char c);
bool isToken(QByteArrayView text);
// A field value's bytes without a control character other than HTAB
// (RFC 9110 5.5); obs-text is allowed.
bool isFieldValue(QByteArrayView value);
// chunk-size [ chunk-ext ] CRLF (RFC 9112 7.1), the whole line with its
// CRLF and nothing else: no bare CR or LF, no whitespace but the BWS
// around extensions.
bool isChunkSizeLine(QByteArrayView line);
// A trailer's field-line CRLF: token ":" value, no controls, no folding.
bool isTrailerLine(QByteArrayView line);

// Field names compare without case.
inline bool sameName(QByteArrayView name, QByteArrayView other)
{
    return name.size() == other.size() && name.compare(other, Qt::CaseInsensitive) == 0;
}
// Content-Length, Transfer-Encoding and Host: what frames or routes a
// request. proxymon writes its own, and a Connection header may not make
// them hop-by-hop (the body would go out unframed, and the upstream would
// read it as requests); a trailer may not carry them (RFC 9110 6.5.1).
// Which of them name is (in any case), spelled canonically; empty if none.
QByteArrayView framingHeader(QByteArrayView name);

// Calls visit(item) for each trimmed item of a comma-separated list value
// (RFC 9110 5.6.1; an empty item is passed too, for a strict reader to
// refuse), until it returns true; returns whether it did.
template <typename Visit>
bool anyListItem(QByteArrayView value, Visit visit)
{
    while (true) {
        const qsizetype comma = value.indexOf(',');
        if (visit((comma < 0 ? value : value.first(comma)).trimmed()))
            return true;
        if (comma < 0)
            return false;
        value = value.sliced(comma + 1);
    }
}

// The transfer codings a request's Transfer-Encoding lines (values, in
// order) list, lower case and comma-separated, into *codings; false when
// one is not a token or chunked is not there once and last (RFC 9112 6.1
// and 6.3: a request's body is then of no known length).
template <typename Values>
bool requestCodings(const Values &values, QByteArray *codings)
{
    bool chunked = false;
    for (QByteArrayView value : values) {
        const bool bad = anyListItem(value, [codings, &chunked](QByteArrayView item) {
            if (!isToken(item) || chunked)
                return true;
            chunked = sameName(item, "chunked");
            if (!codings->isEmpty())
                *codings += ", ";
            *codings += item.toByteArray().toLower();
            return false;
        });
        if (bad)
            return false;
    }
    return chunked;
}

} // namespace HttpSyntax
