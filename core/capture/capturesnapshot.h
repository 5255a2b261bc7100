#pragma once

#include "captureselection.h"
#include "capturestore.h"

#include <QList>

// A copy of part of a capture, taken on the window's thread and written
// out on another: records and exchanges are values whose bytes are shared,
// so taking one costs little even for a large capture, and the store may go
// on changing meanwhile.
struct CaptureSnapshot
{
    struct Entry
    {
        ConnectionRecord record;
        QList<HttpExchange> exchanges; // in the order they came
    };

    QList<Entry> entries; // connections in id order
    qsizetype exchangeCount = 0;

    // What the selection takes, in the store's order.
    static CaptureSnapshot take(const CaptureStore &store, const CaptureSelection &selection);
};
