#pragma once

#include <QtGlobal>

// When to give the heap's free memory back to the system: once the workers
// have been quiet for a while after a spell of work. A burst of connections
// leaves megabytes of freed records and exchanges inside the malloc arena
// (the workers allocate them, the main thread frees them); glibc keeps them
// for reuse, so a proxy holding thousands of idle connections after a burst
// looks a third bigger than it is. HAProxy trims its pools the same way.
//
// Pure: told the time, returns whether to trim; trim() does it.
class HeapTrim
{
public:
    // How long the workers must have reported nothing.
    static constexpr qint64 QuietMs = 1000;

    // Told at each publishing round whether any worker reported something.
    // True once per quiet spell that followed work, when it has lasted
    // QuietMs; never while busy, never twice without work between.
    bool due(bool busy, qint64 nowMs);

    // Returns free memory inside and at the top of the heap to the system
    // (glibc's malloc_trim; nothing elsewhere). Takes the allocator's lock
    // while it walks the heap: call it when the workers are quiet.
    static void trim();

private:
    qint64 m_lastBusyMs = -1; // -1: no work since the last trim
};
