#pragma once

#include "flowconditions.h"

#include <QString>

// Something done on purpose to one connection: a reset, a clean close, a
// half-close, a stall or a black hole and their end, a throttle, a limit on
// the bytes one way. The window's row menu asks for them by hand; a fault
// rule fires one when its trigger comes.
//
// The target is a side (reset the client, half-close toward the
// upstream) or, for what acts on bytes, the direction toward that side:
// Upstream is up (client to upstream), Client is down.
struct FaultAction
{
    enum class Kind : quint8 {
        Reset,     // a real RST toward the target side(s); the other side, if any, gets a FIN
        Close,     // deliver what is held, then FIN both ways
        HalfClose, // deliver what is held toward the target, pass it a FIN, read its source no more
        Stall,     // stop reading the source of the direction(s); for durationUs, or until resumed
        Blackhole, // read the source and drop its bytes; for durationUs, or until resumed
        Resume,    // end a stall or a black hole
        Throttle,  // conditions on the direction(s) from now on (none: unthrottled)
        Limit,     // deliver bytes more, then do then
    };
    enum class Target : quint8 { Client, Upstream, Both };

    Kind kind = Kind::Reset;
    Target target = Target::Both;
    qint64 durationUs = 0;      // Stall, Blackhole: resumed after this long (0: not by itself)
    FlowConditions conditions;  // Throttle
    quint64 bytes = 0;          // Limit
    Kind then = Kind::Close;    // Limit: Close, Reset or HalfClose

    bool covers(Target side) const { return target == Target::Both || target == side; }
    // "reset the client", "stall up for 2s", "limit down to 1000B, then close"
    QString describe() const;
    static QString kindName(Kind kind);
    // "up" and "down" for directions, "client" and "upstream" for sides.
    static QString directionName(Target target);
    static QString sideName(Target target);
};
