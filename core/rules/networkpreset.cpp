#include "networkpreset.h"

#include <QStringList>

namespace {

QString folded(const QString &name)
{
    QString out;
    for (const QChar c : name) {
        if (c.isLetterOrNumber())
            out.append(c.toLower());
    }
    return out;
}

QString bits(qint64 bytesPerSecond)
{
    const double kbit = bytesPerSecond * 8 / 1000.0;
    if (kbit >= 1000)
        return QStringLiteral("%1 Mbit/s").arg(kbit / 1000, 0, 'g', 4);
    return QStringLiteral("%1 kbit/s").arg(kbit, 0, 'g', 4);
}

} // namespace

QList<ConditionRule> NetworkPreset::rules() const
{
    QList<ConditionRule> both;
    for (const bool up : {true, false}) {
        ConditionRule rule;
        rule.direction = up ? ConditionRule::Direction::Up : ConditionRule::Direction::Down;
        rule.conditions.bytesPerSecond = up ? upBytesPerSecond : downBytesPerSecond;
        rule.conditions.sharedBandwidth = true;
        rule.conditions.latencyUs = roundTripUs / 2;
        both.append(rule);
    }
    return both;
}

QString NetworkPreset::describe() const
{
    return QStringLiteral("%1 (%2): %3 down, %4 up, %5 ms round trip")
        .arg(name, browser, bits(downBytesPerSecond), bits(upBytesPerSecond))
        .arg(roundTripUs / 1000.0, 0, 'g', 5);
}

const QList<NetworkPreset> &NetworkPreset::all()
{
    // Chrome DevTools (front_end/core/sdk/NetworkManager.ts): a target
    // speed times a factor, and a target latency times one (400 ms × 5
    // for 3G). Firefox (devtools/client/shared/components/throttling/
    // profiles.js) counts a "KBps" as 1024 bits per second.
    constexpr double FirefoxK = 1024 / 8.0;
    constexpr double FirefoxM = 1024 * 1024 / 8.0;
    static const QList<NetworkPreset> presets = {
        {QStringLiteral("3G"), QStringLiteral("Chrome"), 50'000, 50'000, 2'000'000},
        {QStringLiteral("Slow 4G"), QStringLiteral("Chrome"), 180'000, 84'375, 562'500},
        {QStringLiteral("Fast 4G"), QStringLiteral("Chrome"), 1'012'500, 168'750, 165'000},
        {QStringLiteral("GPRS"), QStringLiteral("Firefox"), qint64(50 * FirefoxK), qint64(20 * FirefoxK), 500'000},
        {QStringLiteral("Regular 2G"), QStringLiteral("Firefox"), qint64(250 * FirefoxK), qint64(50 * FirefoxK), 300'000},
        {QStringLiteral("Good 2G"), QStringLiteral("Firefox"), qint64(450 * FirefoxK), qint64(150 * FirefoxK), 150'000},
        {QStringLiteral("Regular 3G"), QStringLiteral("Firefox"), qint64(750 * FirefoxK), qint64(250 * FirefoxK), 100'000},
        {QStringLiteral("Good 3G"), QStringLiteral("Firefox"), qint64(1.5 * FirefoxM), qint64(750 * FirefoxK), 40'000},
        {QStringLiteral("Regular 4G / LTE"), QStringLiteral("Firefox"), qint64(4 * FirefoxM), qint64(3 * FirefoxM), 20'000},
        {QStringLiteral("DSL"), QStringLiteral("Firefox"), qint64(2 * FirefoxM), qint64(1 * FirefoxM), 5'000},
        {QStringLiteral("Wi-Fi"), QStringLiteral("Firefox"), qint64(30 * FirefoxM), qint64(15 * FirefoxM), 2'000},
    };
    return presets;
}

const NetworkPreset *NetworkPreset::find(const QString &name)
{
    const QString wanted = folded(name);
    for (const NetworkPreset &preset : all()) {
        if (folded(preset.name) == wanted)
            return &preset;
    }
    return nullptr;
}

QString NetworkPreset::names()
{
    QStringList names;
    for (const NetworkPreset &preset : all())
        names.append(QLatin1Char('"') + preset.name + QLatin1Char('"'));
    return names.join(QStringLiteral(", "));
}
