#pragma once

#include "httpexchange.h"

#include <QByteArray>

// A captured request as a curl command line for sh (dash) or bash.
//
// Faithful: pasted into a shell, curl sends the recorded request line,
// headers (in their order and case, duplicates and empty values kept) and
// body bytes to the URL the request was for. curl's own headers are turned
// off so only the recorded ones go. What cannot be kept the same, and is
// documented in docs/user-guide.md:
//   - an absolute-form target (sent to a proxy) goes to its server directly,
//     so the request line carries its origin form;
//   - proxy-only headers (Proxy-Connection, Proxy-Authorization) are dropped;
//   - a chunked body is chunked again by curl (same bytes, its own chunk sizes);
//   - a body kept only in part sends the part kept (a comment says so).
// Convenient: the same without Content-Length and curl's defaults turned
// off, and with --compressed, for editing by hand.
//
// Every argument is single-quoted; a byte that is not printable text goes
// through printf's octal escapes, so no recorded byte can reach the shell
// as syntax (dash has no $'...').
class CurlCommand
{
public:
    enum class Style { Faithful, Convenient };

    // Empty for what curl cannot send: no request, or CONNECT.
    static QByteArray build(const HttpExchange &exchange, Style style);
    static bool canBuild(const HttpExchange &exchange);

    // One shell word that stands for exactly these bytes (argv cannot hold
    // NUL: a NUL byte is dropped by the shell).
    static QByteArray shellWord(QByteArrayView bytes);
    // printf commands whose output, together, is exactly these bytes; each
    // format argument stays far below the kernel's 128 KiB per argument.
    static QByteArray printfCommands(QByteArrayView bytes);
};
