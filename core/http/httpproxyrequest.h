#pragma once

#include "httpheadparser.h"
#include "httpmessagestream.h"

#include <QByteArray>
#include <QString>

// What an HTTP proxy makes of one client request: where it goes, and the
// bytes its upstream gets instead of the client's, written so that every
// reader agrees where the request ends. The client's framing is never
// passed on as written: the head carries one Content-Length or one
// Transfer-Encoding of proxymon's own, and a chunked body is framed again
// in canonical chunks (hex sizes, no extensions, CRLF). What a strict and
// a lenient reader would read differently (RFC 9112's smuggling cases) is
// refused instead, with the status and words proxymon answers.
//
// Pure: reads a parsed head and body events, returns results.
struct HttpProxyRequest
{
    struct Route
    {
        QString host;
        quint16 port = 0;

        bool operator==(const Route &other) const { return port == other.port && host == other.host; }
        bool operator!=(const Route &other) const { return !(*this == other); }
        QString text() const;
    };

    // An answer proxymon gives itself instead of an upstream's.
    struct Answer
    {
        int status = 0;
        QString why; // the cause, for the body, the record and the log
    };

    // Only the methods that change how a response is framed matter.
    enum class Method : quint8 { Other, Head, Connect };

    Route route;
    Method method = Method::Other;
    bool tunnel = false;     // CONNECT
    bool persistent = true;  // the client keeps the connection after it
    QByteArray head;         // the origin-form head for the upstream; empty for CONNECT

    // Reads an absolute-form request or a CONNECT (a head event of the
    // client's stream, with the body length it gave). Returns false, with
    // *refusal set, when proxymon must answer it itself.
    static bool read(const HttpMessageStream::Event &event, QByteArrayView viaToken, HttpHeadParser::Limits limits,
                     HttpProxyRequest *request, Answer *refusal);

    // Appends a body event of the same stream (Body, or a Framing line that
    // is not flagged lax) to *wire as the upstream gets it.
    static void appendBody(const HttpMessageStream::Event &event, QByteArray *wire);

    // Whether a message keeps its connection open afterwards (RFC 9112
    // 9.3), by its version and Connection (and a request's
    // Proxy-Connection).
    static bool keepsConnection(const HttpHead &head);
};
