#include "faultrule.h"

#include "ruleunits.h"

#include <QStringList>

namespace {

using Kind = FaultAction::Kind;
using Target = FaultAction::Target;

bool kindNamed(const QString &name, Kind *kind)
{
    for (const Kind candidate : {Kind::Reset, Kind::Close, Kind::HalfClose, Kind::Stall, Kind::Blackhole,
                                 Kind::Throttle, Kind::Limit}) {
        if (name == FaultAction::kindName(candidate)) {
            *kind = candidate;
            return true;
        }
    }
    return false;
}

// "client", "upstream", "both"; directions "up", "down", "both".
bool sideNamed(const QString &value, bool direction, Target *target)
{
    if (value == u"both") {
        *target = Target::Both;
        return true;
    }
    if (value == (direction ? u"down" : u"client")) {
        *target = Target::Client;
        return true;
    }
    if (value == (direction ? u"up" : u"upstream")) {
        *target = Target::Upstream;
        return true;
    }
    return false;
}

// An HTTP fault's own settings, for the error that lists what it takes.
QString httpSettings(HttpFault::Kind kind)
{
    switch (kind) {
    case HttpFault::Kind::Status: return QStringLiteral(", code");
    case HttpFault::Kind::DelayHead: return QStringLiteral(", delay");
    case HttpFault::Kind::CutBody: return QStringLiteral(", bytes, then");
    case HttpFault::Kind::NoResponse: break;
    }
    return QString();
}

} // namespace

bool FaultRule::parse(const QString &text, FaultRule *rule, QString *error)
{
    const qsizetype colon = text.indexOf(u':');
    const QString name = (colon < 0 ? text : text.left(colon)).trimmed().toLower();
    FaultRule parsed;
    FaultAction &action = parsed.action;
    parsed.refuse = name == u"refuse";
    HttpFault::Kind httpKind;
    if (HttpFault::named(name, &httpKind))
        parsed.http.emplace(httpKind);
    else if (!parsed.refuse && (!kindNamed(name, &action.kind) || action.kind == Kind::Throttle)) {
        *error = QStringLiteral("'%1' is not a fault (reset, close, half-close, stall, blackhole, limit, refuse; "
                                "for HTTP: status, delay-head, cut-body, no-response)")
                     .arg(name);
        return false;
    }
    bool haveToward = false;
    bool haveBytes = false;
    const QStringList settings = colon < 0 ? QStringList() : text.mid(colon + 1).split(u',', Qt::SkipEmptyParts);
    for (const QString &setting : settings) {
        const qsizetype equals = setting.indexOf(u'=');
        const QString key = (equals < 0 ? setting : setting.left(equals)).trimmed().toLower();
        const QString value = equals < 0 ? QString() : setting.mid(equals + 1).trimmed();
        if (equals < 0) {
            *error = QStringLiteral("'%1' has no value (write %1=...)").arg(key);
            return false;
        }
        auto duration = [&](qint64 *into) {
            if (RuleUnits::parseDuration(value, into) && *into > 0)
                return true;
            *error = QStringLiteral("%1 '%2' is not a duration (50ms, 1.5s, 250us)").arg(key, value);
            return false;
        };
        auto count = [&](quint64 *into) {
            qint64 bytes = 0;
            if (RuleUnits::parseBytes(value, &bytes)) {
                *into = quint64(bytes);
                return true;
            }
            *error = QStringLiteral("%1 '%2' is not a byte count (1000, 64KiB, 1MB)").arg(key, value);
            return false;
        };
        if (parsed.http && key != u"client" && key != u"probability") {
            bool known = false;
            if (parsed.http->take(key, value, &known, error))
                continue;
            if (!known)
                *error = QStringLiteral("unknown setting '%1' for %2 (method, host, path, header, first, every, "
                                        "client, probability%3)").arg(key, name, httpSettings(parsed.http->kind()));
            return false;
        }
        if (key == u"side" || key == u"toward" || key == u"dir") {
            const bool direction = key == u"dir";
            if (!sideNamed(value.toLower(), direction, &action.target)) {
                *error = direction ? QStringLiteral("dir '%1' is not up, down or both").arg(value)
                                   : QStringLiteral("%1 '%2' is not client, upstream or both").arg(key, value);
                return false;
            }
            haveToward = true;
        } else if (key == u"for") {
            if (!duration(&action.durationUs))
                return false;
        } else if (key == u"bytes") {
            if (!count(&action.bytes))
                return false;
            haveBytes = true;
        } else if (key == u"then") {
            Kind then = Kind::Close;
            if (!kindNamed(value.toLower(), &then) || (then != Kind::Close && then != Kind::Reset && then != Kind::HalfClose)) {
                *error = QStringLiteral("then '%1' is not close, reset or half-close").arg(value);
                return false;
            }
            action.then = then;
        } else if (key == u"after") {
            if (!duration(&parsed.delayUs))
                return false;
            parsed.trigger = Trigger::Delay;
        } else if (key == u"after-up" || key == u"after-down") {
            if (!count(&parsed.bytes))
                return false;
            parsed.trigger = Trigger::Bytes;
            parsed.bytesToward = key == u"after-up" ? Target::Upstream : Target::Client;
        } else if (key == u"on") {
            if (value != u"first-data") {
                *error = QStringLiteral("on '%1' is not first-data").arg(value);
                return false;
            }
            parsed.trigger = Trigger::FirstData;
        } else if (key == u"client") {
            QString why;
            if (!parsed.clients.parse(QString(value).replace(u';', u','), &why)) {
                *error = QStringLiteral("client: %1").arg(why);
                return false;
            }
        } else if (key == u"probability") {
            if (!RuleUnits::parseProbability(value, &parsed.probability)) {
                *error = QStringLiteral("probability '%1' is not between 0 and 1 (0.1, 10%)").arg(value);
                return false;
            }
        } else {
            *error = QStringLiteral("unknown setting '%1' (side, toward, dir, for, bytes, then, after, after-up, "
                                    "after-down, on, client, probability)").arg(key);
            return false;
        }
    }
    if (parsed.http && !parsed.http->complete(error))
        return false;
    if (parsed.refuse) {
        if (action.durationUs <= 0) {
            *error = QStringLiteral("refuse needs for=DURATION");
            return false;
        }
        if (haveToward || haveBytes || (parsed.trigger != Trigger::Accept && parsed.trigger != Trigger::Delay)
            || !parsed.clients.isEmpty() || parsed.probability < 1) {
            *error = QStringLiteral("refuse takes for= and after= only: it stops the listener, for every client");
            return false;
        }
    } else if (action.kind == Kind::HalfClose && (!haveToward || action.target == Target::Both)) {
        *error = QStringLiteral("half-close needs toward=client or toward=upstream");
        return false;
    }
    if (action.kind == Kind::Limit && !haveBytes) {
        *error = QStringLiteral("limit needs bytes=N");
        return false;
    }
    if (action.kind == Kind::Limit && action.target == Target::Both && haveToward) {
        *error = QStringLiteral("limit needs dir=up or dir=down");
        return false;
    }
    if (action.kind == Kind::Limit && !haveToward)
        action.target = Target::Client; // the answer, most often
    parsed.text = text.trimmed();
    *rule = parsed;
    return true;
}

QString FaultRule::summary() const
{
    if (http)
        return QStringLiteral("%1 to %2").arg(http->describe(), http->scope());
    if (refuse) {
        return QStringLiteral("refuse new connections for %1").arg(RuleUnits::durationText(action.durationUs))
            + (delayUs > 0 ? QStringLiteral(" after %1").arg(RuleUnits::durationText(delayUs)) : QString());
    }
    QString text = action.describe();
    switch (trigger) {
    case Trigger::Accept: break;
    case Trigger::Delay: text += QStringLiteral(" after %1").arg(RuleUnits::durationText(delayUs)); break;
    case Trigger::Bytes:
        text += QStringLiteral(" after %1 %2").arg(RuleUnits::bytesText(qint64(bytes)), FaultAction::directionName(bytesToward));
        break;
    case Trigger::FirstData: text += QStringLiteral(" on the first data"); break;
    }
    return text;
}
