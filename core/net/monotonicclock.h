#pragma once

#include <QtGlobal>

// The monotonic clock in microseconds, as the connection-life marks use it:
// read at the system call that saw an event, so each mark says when it
// happened, not when a batch was published. A vDSO call (tens of
// nanoseconds): cheap enough for a few marks per connection and once per
// worker wake-up, not for every read.
namespace MonotonicClock {
qint64 nowUs();
}
