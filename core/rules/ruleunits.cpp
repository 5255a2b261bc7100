#include "ruleunits.h"

#include <QRegularExpression>

#include <cmath>

namespace {

// A number, then an optional unit: "1.5", "MB/s".
bool split(const QString &text, double *value, QString *unit)
{
    static const QRegularExpression pattern(QStringLiteral("^\\s*(\\d+(?:\\.\\d+)?)\\s*([A-Za-z/%]*)\\s*$"));
    const QRegularExpressionMatch match = pattern.match(text);
    if (!match.hasMatch())
        return false;
    bool ok = false;
    *value = match.captured(1).toDouble(&ok);
    *unit = match.captured(2);
    return ok && std::isfinite(*value);
}

// "K", "Ki", "M", "Mi", "G", "Gi" at the start of unit: its factor, and
// what follows in *rest.
double prefix(const QString &unit, QString *rest)
{
    if (unit.isEmpty()) {
        *rest = unit;
        return 1;
    }
    const QChar first = unit.at(0).toUpper();
    const double decimal = first == u'K' ? 1e3 : first == u'M' ? 1e6 : first == u'G' ? 1e9 : 0;
    if (decimal == 0) {
        *rest = unit;
        return 1;
    }
    if (unit.size() > 1 && unit.at(1) == u'i') {
        *rest = unit.mid(2);
        return first == u'K' ? 1024.0 : first == u'M' ? 1024.0 * 1024 : 1024.0 * 1024 * 1024;
    }
    *rest = unit.mid(1);
    return decimal;
}

// A number with an optional K, Ki, M... prefix, scaled; the unit after the
// prefix in *rest.
bool scaled(const QString &text, double *value, QString *rest)
{
    QString unit;
    if (!split(text, value, &unit))
        return false;
    *value *= prefix(unit, rest);
    return true;
}

bool fits(double value, qint64 *into)
{
    if (value < 0 || value > 1e15)
        return false;
    *into = qint64(std::llround(value));
    return true;
}

QString number(double value)
{
    return QString::number(value, 'g', 6);
}

} // namespace

bool RuleUnits::parseDuration(const QString &text, qint64 *microseconds)
{
    double value = 0;
    QString unit;
    if (!split(text, &value, &unit))
        return false;
    const QString lower = unit.toLower();
    double factor = 0;
    if (lower == u"us")
        factor = 1;
    else if (lower == u"ms")
        factor = 1e3;
    else if (lower == u"s")
        factor = 1e6;
    else if (lower == u"m" || lower == u"min")
        factor = 60e6;
    else
        return false;
    return fits(value * factor, microseconds);
}

bool RuleUnits::parseRate(const QString &text, qint64 *bytesPerSecond)
{
    double value = 0;
    QString rest;
    if (!scaled(text, &value, &rest))
        return false;
    // bytes: "B/s", "Bps"; bits: "bit/s", "bps" (kbps, Mbps).
    double perByte = 0;
    if (rest.isEmpty() || rest == u"B/s" || rest == u"Bps" || rest == u"B")
        perByte = 1;
    else if (rest == u"bit/s" || rest == u"bps" || rest == u"bit")
        perByte = 1.0 / 8;
    else
        return false;
    return fits(value * perByte, bytesPerSecond) && *bytesPerSecond > 0;
}

bool RuleUnits::parseBytes(const QString &text, qint64 *bytes)
{
    double value = 0;
    QString rest;
    if (!scaled(text, &value, &rest))
        return false;
    if (!rest.isEmpty() && rest != u"B")
        return false;
    return fits(value, bytes);
}

bool RuleUnits::parseProbability(const QString &text, double *probability)
{
    double value = 0;
    QString unit;
    if (!split(text, &value, &unit))
        return false;
    if (unit == u"%")
        value /= 100;
    else if (!unit.isEmpty())
        return false;
    if (value < 0 || value > 1)
        return false;
    *probability = value;
    return true;
}

QString RuleUnits::durationText(qint64 microseconds)
{
    if (microseconds >= 1'000'000 && microseconds % 100'000 == 0)
        return number(microseconds / 1e6) + QStringLiteral("s");
    if (microseconds % 1000 == 0 || microseconds >= 10'000)
        return number(microseconds / 1e3) + QStringLiteral("ms");
    return QString::number(microseconds) + QStringLiteral("us");
}

QString RuleUnits::rateText(qint64 bytesPerSecond)
{
    return bytesText(bytesPerSecond) + QStringLiteral("/s");
}

QString RuleUnits::bytesText(qint64 bytes)
{
    if (bytes >= 1'000'000)
        return number(bytes / 1e6) + QStringLiteral("MB");
    if (bytes >= 1000)
        return number(bytes / 1e3) + QStringLiteral("KB");
    return QString::number(bytes) + QStringLiteral("B");
}
