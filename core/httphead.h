#pragma once

#include <QByteArray>
#include <QList>
#include <QMetaType>

// One HTTP/1.x request or response head as it crossed the proxy: the start
// line's parts, the headers in their original order and case, and the raw
// bytes. A value type, safe to hand across threads.
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
    };

    struct Header
    {
        QByteArray name;
        QByteArray value;
    };

    Kind kind = Kind::Request;
    QByteArray method;  // requests
    QByteArray target;  // requests
    QByteArray version; // both
    int status = 0;     // responses
    QByteArray reason;  // responses
    QList<Header> headers;
    QByteArray raw;     // the head's bytes as received, up to the cap
    quint32 flags = 0;

    bool has(Flag flag) const { return flags & flag; }
    // The first value of a header, by case-insensitive name; empty if absent.
    QByteArray value(QByteArrayView name) const;
    // Every value of a header, in order.
    QList<QByteArray> values(QByteArrayView name) const;
    // Lower-case names of the flags that are set, for JSONL and the window.
    QList<QByteArray> flagNames() const;
};

Q_DECLARE_METATYPE(HttpHead)
