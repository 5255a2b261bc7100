#pragma once

#include "connectionrecord.h"

#include <QString>

// A connection's end in a few words for its row: who closed first, whether
// the FIN (or reset) was passed on to the other side, and how long the
// other direction kept flowing after it. "C FIN→ · U +100 ms · U FIN→"
// reads: the client sent FIN, proxymon passed it on, the upstream kept
// sending for 100 ms, then sent its own FIN, passed on too.
class LifeSummary
{
public:
    static QString compact(const ConnectionRecord &record);
    // "1.5 s", "120 ms", "850 µs"
    static QString duration(qint64 us);
};
