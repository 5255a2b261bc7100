#include "displaytext.h"

#include <QDateTime>

namespace DisplayText {

QString bytes(quint64 count)
{
    if (count < 1024)
        return QStringLiteral("%1 B").arg(count);
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double value = double(count);
    int unit = -1;
    while (value >= 1024 && unit < 3) {
        value /= 1024;
        ++unit;
    }
    return QStringLiteral("%1 %2").arg(value, 0, 'f', value < 10 ? 2 : value < 100 ? 1 : 0).arg(QLatin1String(units[unit]));
}

QString rate(double bytesPerSecond)
{
    if (bytesPerSecond <= 0)
        return QStringLiteral("0 B/s");
    return bytes(quint64(bytesPerSecond)) + QStringLiteral("/s");
}

QString duration(qint64 milliseconds)
{
    if (milliseconds < 1000)
        return QStringLiteral("%1 ms").arg(milliseconds);
    if (milliseconds < 60'000)
        return QStringLiteral("%1 s").arg(double(milliseconds) / 1000, 0, 'f', milliseconds < 10'000 ? 2 : 1);
    const qint64 seconds = milliseconds / 1000;
    if (seconds < 3600)
        return QStringLiteral("%1 min %2 s").arg(seconds / 60).arg(seconds % 60);
    return QStringLiteral("%1 h %2 min").arg(seconds / 3600).arg((seconds % 3600) / 60);
}

QString clockTime(qint64 msSinceEpoch)
{
    if (msSinceEpoch <= 0)
        return QString();
    return QDateTime::fromMSecsSinceEpoch(msSinceEpoch).toString(QStringLiteral("HH:mm:ss.zzz"));
}

} // namespace DisplayText
