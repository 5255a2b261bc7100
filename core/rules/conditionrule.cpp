#include "conditionrule.h"

#include "ratepacer.h"
#include "ruleunits.h"

#include <QStringList>

namespace {

bool setValue(ConditionRule *rule, const QString &key, const QString &value, QString *error)
{
    FlowConditions &c = rule->conditions;
    auto duration = [&](qint64 *into) {
        if (RuleUnits::parseDuration(value, into))
            return true;
        *error = QStringLiteral("%1 '%2' is not a duration (50ms, 1.5s, 250us)").arg(key, value);
        return false;
    };
    auto bytes = [&](qint64 *into) {
        if (RuleUnits::parseBytes(value, into))
            return true;
        *error = QStringLiteral("%1 '%2' is not a byte count (100, 64KiB, 1MB)").arg(key, value);
        return false;
    };
    if (key == u"latency")
        return duration(&c.latencyUs);
    if (key == u"jitter")
        return duration(&c.jitterUs);
    if (key == u"connect-delay")
        return duration(&rule->connectDelayUs);
    if (key == u"slice-delay")
        return duration(&c.sliceDelayUs);
    if (key == u"bandwidth") {
        if (RuleUnits::parseRate(value, &c.bytesPerSecond))
            return true;
        *error = QStringLiteral("bandwidth '%1' is not a rate (1MB/s, 500KiB/s, 2Mbit/s, 750kbps)").arg(value);
        return false;
    }
    if (key == u"burst")
        return bytes(&c.burstBytes);
    if (key == u"slice" || key == u"slice-variation") {
        qint64 size = 0;
        if (!bytes(&size))
            return false;
        if (size > (1 << 30)) {
            *error = QStringLiteral("%1 '%2' is too large").arg(key, value);
            return false;
        }
        (key == u"slice" ? c.sliceBytes : c.sliceVariation) = int(size);
        return true;
    }
    if (key == u"shared") {
        if (value.isEmpty() || value == u"yes" || value == u"true" || value == u"1")
            c.sharedBandwidth = true;
        else if (value == u"no" || value == u"false" || value == u"0")
            c.sharedBandwidth = false;
        else {
            *error = QStringLiteral("shared '%1' is not yes or no").arg(value);
            return false;
        }
        return true;
    }
    if (key == u"client") {
        // Several networks: client=10.0.0.0/8;192.168.0.0/16.
        SubnetList clients;
        QString why;
        if (!clients.parse(QString(value).replace(u';', u','), &why)) {
            *error = QStringLiteral("client: %1").arg(why);
            return false;
        }
        rule->clients = clients;
        return true;
    }
    if (key == u"probability") {
        if (RuleUnits::parseProbability(value, &rule->probability))
            return true;
        *error = QStringLiteral("probability '%1' is not between 0 and 1 (0.1, 10%)").arg(value);
        return false;
    }
    *error = QStringLiteral("unknown setting '%1' (latency, jitter, bandwidth, burst, shared, slice, slice-variation, "
                            "slice-delay, connect-delay, client, probability)").arg(key);
    return false;
}

} // namespace

bool ConditionRule::parse(const QString &text, ConditionRule *rule, QString *error)
{
    const qsizetype colon = text.indexOf(u':');
    if (colon < 0) {
        *error = QStringLiteral("'%1' names no direction: write up:, down: or both: before the settings").arg(text);
        return false;
    }
    ConditionRule parsed;
    const QString direction = text.left(colon).trimmed().toLower();
    if (direction == u"up")
        parsed.direction = Direction::Up;
    else if (direction == u"down")
        parsed.direction = Direction::Down;
    else if (direction == u"both")
        parsed.direction = Direction::Both;
    else {
        *error = QStringLiteral("direction '%1' is not up, down or both").arg(direction);
        return false;
    }
    const QStringList settings = text.mid(colon + 1).split(u',', Qt::SkipEmptyParts);
    if (settings.isEmpty()) {
        *error = QStringLiteral("'%1' sets nothing after the direction").arg(text);
        return false;
    }
    for (const QString &setting : settings) {
        const qsizetype equals = setting.indexOf(u'=');
        const QString key = (equals < 0 ? setting : setting.left(equals)).trimmed().toLower();
        const QString value = equals < 0 ? QString() : setting.mid(equals + 1).trimmed();
        if (equals < 0 && key != u"shared") {
            *error = QStringLiteral("'%1' has no value (write %1=...)").arg(key);
            return false;
        }
        if (!setValue(&parsed, key, value, error))
            return false;
    }
    const FlowConditions &c = parsed.conditions;
    if (c.sliceBytes == 0 && (c.sliceDelayUs > 0 || c.sliceVariation > 0)) {
        *error = QStringLiteral("slice-delay and slice-variation need a slice size (slice=100)");
        return false;
    }
    if (c.sliceVariation >= c.sliceBytes && c.sliceBytes > 0) {
        *error = QStringLiteral("slice-variation must be smaller than the slice");
        return false;
    }
    if (c.sharedBandwidth && c.bytesPerSecond == 0) {
        *error = QStringLiteral("shared needs a bandwidth to share");
        return false;
    }
    if (c.burstBytes > 0 && c.bytesPerSecond == 0) {
        *error = QStringLiteral("burst needs a bandwidth");
        return false;
    }
    *rule = parsed;
    return true;
}

QString ConditionRule::toText() const
{
    QStringList parts;
    const FlowConditions &c = conditions;
    if (c.latencyUs)
        parts << QStringLiteral("latency=") + RuleUnits::durationText(c.latencyUs);
    if (c.jitterUs)
        parts << QStringLiteral("jitter=") + RuleUnits::durationText(c.jitterUs);
    if (c.bytesPerSecond)
        parts << QStringLiteral("bandwidth=%1B/s").arg(c.bytesPerSecond);
    if (c.burstBytes)
        parts << QStringLiteral("burst=%1").arg(c.burstBytes);
    if (c.sharedBandwidth)
        parts << QStringLiteral("shared");
    if (c.sliceBytes)
        parts << QStringLiteral("slice=%1").arg(c.sliceBytes);
    if (c.sliceVariation)
        parts << QStringLiteral("slice-variation=%1").arg(c.sliceVariation);
    if (c.sliceDelayUs)
        parts << QStringLiteral("slice-delay=") + RuleUnits::durationText(c.sliceDelayUs);
    if (connectDelayUs)
        parts << QStringLiteral("connect-delay=") + RuleUnits::durationText(connectDelayUs);
    if (!clients.isEmpty())
        parts << QStringLiteral("client=") + clients.toString().replace(u',', u';');
    if (probability < 1)
        parts << QStringLiteral("probability=%1").arg(probability);
    return directionName(direction) + u':' + parts.join(u',');
}

QString ConditionRule::summary() const
{
    QString text = directionName(direction) + u' ' + describe(conditions);
    if (connectDelayUs)
        text += (conditions.isEmpty() ? QStringLiteral("connect +") : QStringLiteral(", connect +"))
            + RuleUnits::durationText(connectDelayUs);
    return text;
}

QString ConditionRule::describe(const FlowConditions &c)
{
    QStringList parts;
    if (c.bytesPerSecond)
        parts << RuleUnits::rateText(c.bytesPerSecond) + (c.sharedBandwidth ? QStringLiteral(" shared") : QString());
    if (c.latencyUs || c.jitterUs)
        parts << RuleUnits::durationText(c.latencyUs)
                     + (c.jitterUs ? QStringLiteral(" ±") + RuleUnits::durationText(c.jitterUs) : QString());
    if (c.sliceBytes)
        parts << QStringLiteral("slices of %1").arg(RuleUnits::bytesText(c.sliceBytes));
    return parts.join(QStringLiteral(", "));
}

bool ConditionRule::covers(bool up) const
{
    return direction == Direction::Both || (direction == Direction::Up) == up;
}

void ConditionRule::makePacers()
{
    for (int i = 0; i < 2; ++i) {
        pacers[i].reset();
        if (conditions.sharedBandwidth && covers(i == 0))
            pacers[i] = std::make_shared<RatePacer>(conditions.bytesPerSecond, conditions.burstBytes);
    }
}

bool ConditionRule::operator==(const ConditionRule &other) const
{
    return direction == other.direction && conditions == other.conditions && connectDelayUs == other.connectDelayUs
        && clients == other.clients && probability == other.probability;
}

QString ConditionRule::directionName(Direction direction)
{
    switch (direction) {
    case Direction::Up: return QStringLiteral("up");
    case Direction::Down: return QStringLiteral("down");
    case Direction::Both: break;
    }
    return QStringLiteral("both");
}
