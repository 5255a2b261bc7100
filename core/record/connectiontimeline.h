#pragma once

#include <QList>
#include <QString>

// One event in a connection's life, on the lane of the leg it happened on,
// timed by the worker at the system call that saw it.
struct TimelineMark
{
    enum class Kind : quint8 {
        Accepted,      // client lane, at 0
        Resolved,      // upstream: the name lookup answered; note: the first address or why not
        Connecting,    // upstream: a connect attempt began; note: the address
        Connected,     // upstream: that attempt succeeded
        Reused,        // upstream: HTTP proxy mode took up a kept connection to the host asked for; note: its address
        ConnectFailed, // upstream: it failed; code: errno
        TlsDone,       // a TLS handshake finished on that leg; note: the version
        FirstByte,     // the first byte read from that side
        Fin,           // that side sent its FIN (a read returned 0)
        FinSent,       // proxymon sent a FIN toward that side (shutdown or close)
        Reset,         // that side reset the connection; code: errno
        ResetSent,     // proxymon reset the connection toward that side
        Failed,        // that side failed otherwise; code: errno
        StallStart,    // that side stopped taking bytes: the other side's reads paused
        StallEnd,      // it took them again
        Timeout,       // note: which (connect, TLS handshake, idle, half-close)
        Fault,         // connection lane: something done on purpose (note: what, and who asked); code: its kind
        Closed,        // the end; code: the CloseReason
    };
    // Which lane: the client leg, the upstream leg, or the connection as a whole.
    enum class Lane : quint8 { Client = 0, Upstream = 1, Connection = 2 };

    qint64 atUs = 0;   // since the connection was accepted
    Kind kind = Kind::Accepted;
    Lane lane = Lane::Connection;
    qint32 code = 0;
    QString note;

    // Stable lower-case names for the JSONL stream ("first_byte").
    static QString kindName(Kind kind);
    static QString laneName(Lane lane);
    static bool kindNamed(const QString &name, Kind *kind);
    // "the client sent FIN": the words the strip and its tooltips use.
    QString describe() const;
};
Q_DECLARE_TYPEINFO(TimelineMark, Q_RELOCATABLE_TYPE);

// A connection's life as marks, and the totals the time breakdown needs.
// Per direction, index 0 is client to upstream (up) and 1 upstream to
// client (down); -1 is "never".
struct ConnectionTimeline
{
    QList<TimelineMark> marks;  // in time order
    qint64 lastByteUs[2] = {-1, -1};     // the last read from that direction's source
    qint64 waitedUs[2] = {0, 0};         // that direction's bytes waited inside proxymon for its destination
    qint64 waitingSinceUs[2] = {-1, -1}; // live: a wait going on since then
    qint64 resolveUs = -1;               // all name lookups, together
    qint64 connectUs = -1;               // all connect attempts, together
    qint64 sampledUs = 0;                // when this copy was taken (live) or the end
    quint32 unmarked = 0;                // marks left out past the bounds (stalls are still in waitedUs)

    // The first mark of a kind on a lane, or null.
    const TimelineMark *find(TimelineMark::Kind kind, TimelineMark::Lane lane) const;
    qint64 timeOf(TimelineMark::Kind kind, TimelineMark::Lane lane) const; // -1 when absent
    bool isEmpty() const { return marks.isEmpty(); }
};
Q_DECLARE_TYPEINFO(ConnectionTimeline, Q_RELOCATABLE_TYPE);
