#pragma once

#include "chunkframing.h"
#include "httphead.h"

#include <QList>
#include <QMetaType>

// One request and its response on a connection, with what came between:
// interim 1xx responses, body sizes, bounded body prefixes and timings. A
// value type; the capture hands lists of them to observers.
struct HttpExchange
{
    quint64 connectionId = 0;
    int sequence = 0;              // 1, 2, ... in request order on the connection
    HttpHead request;
    QList<HttpHead> interim;       // 100 Continue and other 1xx answers
    HttpHead response;             // status 0 until a final response came
    quint64 requestBodyBytes = 0;  // after chunked decoding
    quint64 responseBodyBytes = 0;
    QByteArray requestBody;        // the first bytes, up to the body cap
    QByteArray responseBody;
    ChunkFraming requestFraming;   // chunked bodies: their framing, for the wire form
    ChunkFraming responseFraming;
    // Milliseconds since the epoch; 0 when it did not happen.
    qint64 requestStartMs = 0;
    qint64 requestCompleteMs = 0;
    qint64 responseStartMs = 0;    // first byte of the response
    qint64 responseCompleteMs = 0;
    quint32 flags = 0;             // HttpHead flags of both sides, and framing
    bool complete = false;         // the final response ended normally
    bool tunnel = false;           // CONNECT or 101: opaque bytes follow
    bool secure = false;           // carried over TLS (decrypted, or spoken to the upstream)

    // The URL the request was for: an absolute-form target as it is, else
    // http:// or https:// with the Host header and the target; a CONNECT's
    // authority as it is.
    QByteArray url() const;

    bool hasResponse() const { return response.status != 0; }
};

// Lists of exchanges grow by the thousand per publish: moved with memcpy.
Q_DECLARE_TYPEINFO(HttpExchange, Q_RELOCATABLE_TYPE);
Q_DECLARE_METATYPE(HttpExchange)
Q_DECLARE_METATYPE(QList<HttpExchange>)
