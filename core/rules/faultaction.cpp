#include "faultaction.h"

#include "conditionrule.h"
#include "ruleunits.h"

QString FaultAction::kindName(Kind kind)
{
    switch (kind) {
    case Kind::Reset: return QStringLiteral("reset");
    case Kind::Close: return QStringLiteral("close");
    case Kind::HalfClose: return QStringLiteral("half-close");
    case Kind::Stall: return QStringLiteral("stall");
    case Kind::Blackhole: return QStringLiteral("blackhole");
    case Kind::Resume: return QStringLiteral("resume");
    case Kind::Throttle: return QStringLiteral("throttle");
    case Kind::Limit: return QStringLiteral("limit");
    }
    return QString();
}

QString FaultAction::directionName(Target target)
{
    switch (target) {
    case Target::Client: return QStringLiteral("down");
    case Target::Upstream: return QStringLiteral("up");
    case Target::Both: break;
    }
    return QStringLiteral("both ways");
}

QString FaultAction::sideName(Target target)
{
    switch (target) {
    case Target::Client: return QStringLiteral("the client");
    case Target::Upstream: return QStringLiteral("the upstream");
    case Target::Both: break;
    }
    return QStringLiteral("both sides");
}

QString FaultAction::describe() const
{
    const QString lasting = durationUs > 0 ? QStringLiteral(" for %1").arg(RuleUnits::durationText(durationUs)) : QString();
    switch (kind) {
    case Kind::Reset: return QStringLiteral("reset %1").arg(sideName(target));
    case Kind::Close: return QStringLiteral("close cleanly");
    case Kind::HalfClose: return QStringLiteral("half-close toward %1").arg(sideName(target));
    case Kind::Stall: return QStringLiteral("stall %1").arg(directionName(target)) + lasting;
    case Kind::Blackhole: return QStringLiteral("black hole %1").arg(directionName(target)) + lasting;
    case Kind::Resume: return QStringLiteral("resume %1").arg(directionName(target));
    case Kind::Throttle:
        return conditions.isEmpty()
            ? QStringLiteral("unthrottle %1").arg(directionName(target))
            : QStringLiteral("throttle %1 to %2").arg(directionName(target), ConditionRule::describe(conditions));
    case Kind::Limit:
        return QStringLiteral("limit %1 to %2, then %3")
            .arg(directionName(target), RuleUnits::bytesText(qint64(bytes)), kindName(then));
    }
    return QString();
}
