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
// proxy listener. The body is framed as its headers say: chunked bodies as
// one chunk, and Content-Length follows the body unless told not to.
struct ReplayRequest
{
    QByteArray method = "GET";
    QByteArray url;               // http://host[:port]/path?query or https://...
    QByteArray version = "HTTP/1.1";
    QList<QPair<QByteArray, QByteArray>> headers;
    QByteArray body;
    bool tlsToListener = false;   // forwarding mode: the client spoke TLS to proxymon (interception)
    bool updateLength = true;     // Content-Length set to the body's size

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
    // How to send it; *error says why it cannot be (a URL that is not
    // http or https, say).
    ReplayClient::Plan plan(const Listener &listener, QString *error) const;

    // The head and body bytes for a listener of that kind.
    QByteArray bytes(bool absoluteForm) const;
    QByteArray scheme() const;
    // "host:port", the port filled in from the scheme.
    QByteArray authority() const;
    QByteArray host() const;   // without the port or brackets
    QByteArray target() const; // path and query, "/" at least
};
