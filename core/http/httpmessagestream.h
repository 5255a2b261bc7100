#pragma once

#include "httpheadparser.h"

#include <QByteArrayView>
#include <QList>
#include <QQueue>

// Follows one direction of an HTTP/1.x connection message by message: heads,
// then bodies framed by Content-Length, chunked encoding or the end of the
// connection, so that the next head is found on keep-alive and pipelined
// connections. Switches to an opaque tunnel after CONNECT or 101, and gives
// up (NotHttp) on other protocols. It sees a copy of the bytes; forwarding
// never waits on it.
class HttpMessageStream
{
public:
    struct Event
    {
        enum class Type {
            Head,    // head is set
            Body,    // bytes: part of the current body (valid during feed() only)
            End,     // the message is complete; flags may say BodyShort
            Tunnel,  // bytes: opaque data after CONNECT or 101
            NotHttp, // this direction is not HTTP; nothing more follows
            Framing, // framing: a chunked body's own line (a chunk size, the CRLF
                     // after a chunk's data, the last chunk, a trailer), whole
        };
        // Framing: which line it is. A strict reader's view of it is in
        // flags (LaxChunkFraming when RFC 9112 does not allow it).
        enum class Line : quint8 {
            None,
            ChunkSize,    // bodyLength: the chunk's size; 0 is the last chunk
            ChunkDataEnd, // the CRLF after a chunk's data
            Trailer,      // a trailer field line
            TrailersEnd,  // the blank line that ends the body
        };
        Type type;
        Line line = Line::None;
        HttpHead head;
        QByteArrayView bytes;
        QByteArray framing;
        quint32 flags = 0;
        quint64 bodyLength = 0; // Head: the body's length when the head gives it (Content-Length);
                                // Framing: a chunk's size
        // Where the event ends in the data given to feed(): the bytes between
        // two events' ends are the wire bytes of the later one (a head, or a
        // body with its chunk framing). An HTTP proxy forwards by these.
        qsizetype end = 0;
    };

    explicit HttpMessageStream(HttpHead::Kind kind);
    HttpMessageStream(HttpHead::Kind kind, HttpHeadParser::Limits limits);

    // Appends what the bytes complete to *events.
    void feed(QByteArrayView data, QList<Event> *events);
    // How many of the next bytes are known to be body bytes of the current
    // message (a Content-Length body, a chunk's data, a body that runs to
    // the end of the connection), so that whoever does not need to see them
    // can pass them by with passBody(); 0 when the next bytes need parsing.
    quint64 bodyBytesAhead() const;
    // Like feed() for n body bytes (at most bodyBytesAhead()) without their
    // content: appends the End event they complete, if any, but no Body
    // event; the caller accounts for them.
    void passBody(quint64 n, QList<Event> *events);
    // The direction ended (FIN): a body that runs to the end is complete,
    // one that was announced longer is short.
    void finish(QList<Event> *events);

    // Back to the start, as for a new connection.
    void reset();

    // Responses: the method of the request the next response answers, in
    // request order (HEAD and CONNECT change how a response is framed).
    void expectResponseTo(QByteArrayView method);
    // The other direction saw a 101 or a successful CONNECT: from now on
    // this one carries opaque data too.
    void switchToTunnel();

    bool isTunnel() const { return m_state == State::Tunnel; }
    // Between messages or inside a head: bytes fed now belong to the next head.
    bool betweenBodies() const { return m_state == State::Head; }
    bool isHttp() const { return m_state != State::NotHttp; }

private:
    enum class State { Head, Fixed, ChunkLine, ChunkData, ChunkDataEnd, Trailers, UntilClose, Tunnel, NotHttp };

    void startBody(HttpHead &head, QList<Event> *events);
    void endMessage(QList<Event> *events, quint32 flags = 0);
    // Collects one line (up to LF) into m_line; returns bytes used, and
    // sets *complete when the line ended.
    qsizetype takeLine(QByteArrayView data, bool *complete);

    HttpHeadParser m_heads;
    State m_state = State::Head;
    quint64 m_remaining = 0; // of a fixed body or the current chunk
    quint32 m_bodyFlags = 0; // what the current body's framing lines earned it, for its End
    QByteArray m_line;       // a chunk-size or trailer line being collected
    // Only the methods that change how a response is framed matter.
    enum class RequestMethod : quint8 { Other, Head, Connect };
    QQueue<RequestMethod> m_requestMethods;
};

Q_DECLARE_TYPEINFO(HttpMessageStream::Event, Q_RELOCATABLE_TYPE);
