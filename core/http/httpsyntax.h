#pragma once

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

} // namespace HttpSyntax
