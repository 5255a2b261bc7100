#pragma once

#include "httphead.h"

#include <QByteArrayView>

// Finds and parses HTTP/1.x heads in one direction of a connection.
//
// Two layers: parse() is a pure function from a head's bytes to an HttpHead;
// the parser object only remembers how far it has looked for the blank line
// that ends a head, so its work stays linear in the input however the bytes
// are split. It never changes or holds up the bytes being forwarded: it sees
// a copy.
class HttpHeadParser
{
public:
    enum class Status {
        NeedMore, // no end of head yet
        Complete, // takeHead() has it; *used says where it ended
        Invalid,  // not HTTP: give up on this direction
    };

    struct Limits
    {
        qsizetype maxBytes = 64 * 1024;
        int maxHeaders = 100;
    };

    explicit HttpHeadParser(HttpHead::Kind kind);
    HttpHeadParser(HttpHead::Kind kind, Limits limits);

    // Looks at the next bytes. *used is how many of them belong to the head
    // (all of them for NeedMore; up to the end of the head for Complete;
    // unspecified for Invalid). After Complete, call reset() before the next
    // head.
    Status feed(QByteArrayView data, qsizetype *used);
    HttpHead takeHead();
    void reset();

    // Parses a complete head (ending in its blank line, or cut at the cap
    // when truncated is set). Pure.
    static HttpHead parse(QByteArrayView bytes, HttpHead::Kind kind, int maxHeaders, bool truncated);

    // Whether the first bytes of a direction can start a head at all; lets
    // the capture give up on TLS, SSH and other binary protocols early.
    static bool plausibleStart(QByteArrayView bytes, HttpHead::Kind kind);

private:
    static void parseInto(HttpHead *head, QByteArrayView bytes, HttpHead::Kind kind, int maxHeaders, bool truncated);

    const HttpHead::Kind m_kind;
    const Limits m_limits;
    QByteArray m_kept;        // the head so far, up to the cap
    qsizetype m_seen = 0;     // bytes of this head looked at
    int m_lineFeeds = 0;      // LFs in a row, CRs between them ignored
    bool m_started = false;   // leading empty lines skipped
    bool m_startLineSeen = false;
    HttpHead m_head;
};
