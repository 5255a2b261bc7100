#pragma once

#include "capturefilter.h"
#include "capturestore.h"

class QIODevice;

// Saves what the window holds as the headless JSONL stream would have
// written it: per connection in id order, its opened event, its exchanges,
// and its closed event once it has ended. With a filter, only what the
// filter shows (the same rule as the window and --filter).
class CaptureExport
{
public:
    struct Counts
    {
        qsizetype connections = 0;
        qsizetype exchanges = 0;
    };

    static Counts toJsonl(const CaptureStore &store, const CaptureFilter &filter, QIODevice *device);
};
