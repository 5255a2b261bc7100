#pragma once

#include "replayclient.h"

#include <QByteArray>
#include <QList>
#include <QPair>

struct HttpExchange;

// A request to send again, in parts the composer edits: method, URL,
// version, headers (order and case as given), body. Turned into bytes for
// the listener it goes through: origin form for a forwarding listener and
// inside an https tunnel, absolute form for a plain request to an HTTP
// proxy listener. Like every request proxymon writes itself, its framing
// is proxymon's own, so that every server reads it the same way: a body
// under Transfer-Encoding chunked goes as one chunk, any other with one
// Content-Length of its size; the client's framing lines are not copied.
// Fields a server could read differently (controls, CR or LF in a value,
// Connection naming a framing header) are refused by problem().
struct ReplayRequest
{
    QByteArray method = "GET";
    QByteArray url;               // http://host[:port]/path?query or https://...
    QByteArray version = "HTTP/1.1";
    QList<QPair<QByteArray, QByteArray>> headers;
    QByteArray body;
    bool tlsToListener = false;   // forwarding mode: the client spoke TLS to proxymon (interception)

    // The request as it was captured (the body kept; the caller checks
    // that it was kept whole).
    static ReplayRequest from(const HttpExchange &exchange, bool clientSpokeTls);

    struct Listener
    {
        QString host;            // address literal
        quint16 port = 0;
        bool httpProxy = false;
        QString authorityFile;   // proxymon's CA, for TLS to the listener
    };
    // Why it cannot be sent as written, for the one who wrote it; empty
    // when it can.
    QString problem() const;
    // How to send it; *error says why it cannot be (problem(), or a URL
    // that is not http or https for an HTTP proxy listener).
    ReplayClient::Plan plan(const Listener &listener, QString *error) const;

    // The head and body bytes for a listener of that kind.
    QByteArray bytes(bool absoluteForm) const;
    QByteArray scheme() const;
    // "host:port", the port filled in from the scheme.
    QByteArray authority() const;
    QByteArray host() const;   // without the port or brackets
    QByteArray target() const; // path and query, "/" at least
};
