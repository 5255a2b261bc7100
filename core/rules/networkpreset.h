#pragma once

#include "conditionrule.h"

#include <QList>
#include <QString>

// The browsers' throttling presets, with their published numbers and
// under their names: Chrome DevTools' "3G", "Slow 4G", "Fast 4G", and
// Firefox's list ("GPRS" to "Wi-Fi"). Each is a bandwidth per direction,
// shared by all connections (a browser throttles all its traffic at once),
// and a round-trip latency, half of it added each way so that a request
// and its answer take it once.
struct NetworkPreset
{
    QString name;
    QString browser;          // "Chrome" or "Firefox"
    qint64 downBytesPerSecond = 0;
    qint64 upBytesPerSecond = 0;
    qint64 roundTripUs = 0;

    // The two rules (up, down) that make the preset.
    QList<ConditionRule> rules() const;
    // "Slow 4G: 1.44 Mbit/s down, 675 kbit/s up, 562.5 ms"
    QString describe() const;

    static const QList<NetworkPreset> &all();
    // By name, ignoring case, spaces and punctuation ("slow-4g", "Slow 4G",
    // "regular 4g lte"); null when there is none.
    static const NetworkPreset *find(const QString &name);
    // The names, for a message.
    static QString names();
};
