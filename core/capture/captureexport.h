#pragma once

#include "capturesnapshot.h"

#include <functional>

class QIODevice;

// Writes a snapshot of the capture as the headless JSONL stream would have
// written it: per connection in id order, its opened event, its exchanges,
// and its closed event once it has ended.
//
// A session is the same stream with the bodies (JsonlWriter::setBodies)
// under a first line that names the format and counts what follows, so a
// file cut short is known as such when it is opened again; live connections
// get a connection_snapshot line with their state.
class CaptureExport
{
public:
    // Called after each connection with how many are done of how many;
    // returning false stops the export (the user cancelled).
    using Progress = std::function<bool(qsizetype done, qsizetype total)>;

    struct Counts
    {
        qsizetype connections = 0;
        qsizetype exchanges = 0;
        bool complete = true; // false: stopped by the progress callback, or the device failed

        // One connection written out: its bytes to the device, counted,
        // progress told. False (and not complete) when the device failed
        // or the user cancelled: the writer stops.
        bool written(QIODevice *device, const QByteArray &bytes, qsizetype exchangeCount, qsizetype total,
                     const Progress &progress);
    };

    static Counts toJsonl(const CaptureSnapshot &snapshot, QIODevice *device, const Progress &progress = {});
    static Counts toSession(const CaptureSnapshot &snapshot, QIODevice *device, const Progress &progress = {});

    // The first line's format name; SessionReader checks it.
    static const char *sessionFormat() { return "proxymon-session/1"; }

private:
    static Counts write(const CaptureSnapshot &snapshot, QIODevice *device, bool session, const Progress &progress);
};
