#pragma once

#include <QString>

// How numbers read in the window: sizes in B/KiB/MiB/GiB, rates per second,
// durations from milliseconds to hours, wall-clock times of day.
namespace DisplayText {

QString bytes(quint64 count);
QString rate(double bytesPerSecond);
QString duration(qint64 milliseconds);
QString clockTime(qint64 msSinceEpoch); // local time, "14:03:07.125"

} // namespace DisplayText
