#pragma once

#include <QString>

// The quantities of conditions and faults as users write them and read
// them back: durations ("50ms", "1.5s", "250us"), rates ("1MB/s",
// "500KiB/s", "2Mbit/s", "750kbps"), byte counts ("100", "64KiB", "1MB")
// and probabilities ("0.1", "10%"). Decimal prefixes are powers of 1000,
// binary ones ("KiB") of 1024, as on the wire and in the browsers' lists.
class RuleUnits
{
public:
    static bool parseDuration(const QString &text, qint64 *microseconds);
    static bool parseRate(const QString &text, qint64 *bytesPerSecond);
    static bool parseBytes(const QString &text, qint64 *bytes);
    static bool parseProbability(const QString &text, double *probability);

    static QString durationText(qint64 microseconds);
    static QString rateText(qint64 bytesPerSecond);
    static QString bytesText(qint64 bytes);
};
