#pragma once

#include <QByteArray>
#include <QList>
#include <QMetaType>
#include <QVarLengthArray>

// One HTTP/1.x request or response head as it crossed the proxy: the start
// line's parts, the headers in their original order and case, and the raw
// bytes. A value type, safe to hand across threads.
//
// The parts are spans into the raw bytes rather than strings of their own:
// a head costs two allocations however many headers it has, which is most
// of what capturing a small keep-alive exchange costs.
struct HttpHead
{
    enum class Kind : quint8 { Request, Response };

    // What was wrong or sloppy about it; the head is kept either way.
    enum Flag : quint32 {
        BareLineFeed = 1u << 0,  // lines end in LF alone (tolerated)
        MalformedLine = 1u << 1, // a line that is not "name: value", or a bad start line
        Truncated = 1u << 2,     // over the byte or header cap: what fits is kept
        AmbiguousFraming = 1u << 3, // Content-Length with Transfer-Encoding, or
                                    // conflicting lengths: request smuggling territory
        BodyShort = 1u << 4,     // the connection ended before the announced body did
        // A byte that readers disagree on: a CR not followed by LF anywhere
        // in the head, or a control character other than HTAB in a start
        // line or field value. A server that ends lines at a bare CR sees
        // headers hidden inside another's value.
        ControlCharacter = 1u << 5,
        // A chunked body's framing line that RFC 9112 7.1 does not allow
        // (bare LF or CR, whitespace around the size, anything but
        // extensions after it, a whitespace-only end of trailers): followed
        // leniently, but a strict server reads the body differently.
        LaxChunkFraming = 1u << 6,
    };
    // The flags that mean two readers may not agree where this message
    // ends: request smuggling (desync) territory.
    static constexpr quint32 DesyncRisk = AmbiguousFraming | ControlCharacter | LaxChunkFraming;

    // Bytes [offset, offset + size) of raw, or of assembled past raw's end.
    struct Span
    {
        qint32 offset = 0;
        qint32 size = 0;
    };

    struct Header
    {
        Span name;
        Span value;
    };

    Kind kind = Kind::Request;
    int status = 0;      // responses
    quint32 flags = 0;
    QByteArray raw;      // the head's bytes as received, up to the cap
    QByteArray assembled; // values the parser had to join (folded lines); usually empty
    Span methodSpan;     // requests
    Span targetSpan;     // requests
    Span versionSpan;    // both
    Span reasonSpan;     // responses
    QList<Header> headers;

    QByteArrayView text(Span span) const;
    QByteArrayView method() const { return text(methodSpan); }
    QByteArrayView target() const { return text(targetSpan); }
    QByteArrayView version() const { return text(versionSpan); }
    QByteArrayView reason() const { return text(reasonSpan); }
    QByteArrayView name(const Header &header) const { return text(header.name); }
    QByteArrayView value(const Header &header) const { return text(header.value); }

    bool has(Flag flag) const { return flags & flag; }
    bool isEmpty() const { return raw.isEmpty(); }
    // The first value of a header, by case-insensitive name; empty if absent.
    QByteArrayView value(QByteArrayView name) const;
    // The host a request is for: the authority of an absolute-form target
    // ("http://host:port/...", as sent to a proxy) or of CONNECT, else the
    // Host header.
    QByteArrayView host() const;
    // Every value of a header, in order.
    QVarLengthArray<QByteArrayView, 4> values(QByteArrayView name) const;
    // Lower-case names of the flags that are set, for JSONL and the window.
    QList<QByteArray> flagNames() const;
    // The flag a name from flagNames() stands for; 0 for none.
    static quint32 flagNamed(QByteArrayView name);
};

// Its members are Qt's implicitly shared containers and plain values, so a
// list may move it with memcpy when it grows.
Q_DECLARE_TYPEINFO(HttpHead, Q_RELOCATABLE_TYPE);
Q_DECLARE_METATYPE(HttpHead)
