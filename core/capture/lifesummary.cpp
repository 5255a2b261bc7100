#include "lifesummary.h"

#include <QStringList>

using Kind = TimelineMark::Kind;
using Lane = TimelineMark::Lane;

namespace {

QString letter(Lane lane)
{
    return lane == Lane::Client ? QStringLiteral("C") : QStringLiteral("U");
}

Lane other(Lane lane)
{
    return lane == Lane::Client ? Lane::Upstream : Lane::Client;
}

// Whether proxymon sent the answer (a FIN or reset) toward the other side
// at or after atUs.
bool passedOn(const ConnectionTimeline &timeline, Kind sent, Lane toward, qint64 atUs)
{
    for (const TimelineMark &mark : timeline.marks) {
        if (mark.kind == sent && mark.lane == toward && mark.atUs >= atUs)
            return true;
    }
    return false;
}

} // namespace

QString LifeSummary::duration(qint64 us)
{
    if (us < 1000)
        return QStringLiteral("%1 µs").arg(us);
    if (us < 10'000)
        return QStringLiteral("%1 ms").arg(double(us) / 1000, 0, 'f', 1);
    if (us < 1'000'000)
        return QStringLiteral("%1 ms").arg(us / 1000);
    if (us < 60'000'000)
        return QStringLiteral("%1 s").arg(double(us) / 1e6, 0, 'f', 1);
    return QStringLiteral("%1 min").arg(double(us) / 60e6, 0, 'f', 1);
}

QString LifeSummary::compact(const ConnectionRecord &record)
{
    const ConnectionTimeline &timeline = record.timeline;
    QStringList parts;
    bool firstEnd = true;
    for (const TimelineMark &mark : timeline.marks) {
        switch (mark.kind) {
        case Kind::Fin: {
            const bool passed = passedOn(timeline, Kind::FinSent, other(mark.lane), mark.atUs);
            parts.append(letter(mark.lane) + QStringLiteral(" FIN") + (passed ? QStringLiteral("→") : QStringLiteral(" (held)")));
            if (firstEnd) {
                // The other direction went on after this first FIN?
                const int otherDirection = mark.lane == Lane::Client ? 1 : 0;
                const qint64 after = timeline.lastByteUs[otherDirection] - mark.atUs;
                if (after >= 1000)
                    parts.append(letter(other(mark.lane)) + QStringLiteral(" +") + duration(after));
            }
            firstEnd = false;
            break;
        }
        case Kind::Reset:
            parts.append(letter(mark.lane) + QStringLiteral(" RST")
                         + (passedOn(timeline, Kind::ResetSent, other(mark.lane), mark.atUs) ? QStringLiteral("→") : QString()));
            firstEnd = false;
            break;
        case Kind::Failed:
            parts.append(letter(mark.lane) + QStringLiteral(" failed"));
            firstEnd = false;
            break;
        case Kind::ConnectFailed:
            if (!timeline.find(Kind::Connected, Lane::Upstream) && !timeline.find(Kind::Reused, Lane::Upstream))
                parts.append(QStringLiteral("U refused"));
            break;
        case Kind::Timeout:
            parts.append(QStringLiteral("timeout (%1)").arg(mark.note));
            firstEnd = false;
            break;
        case Kind::Fault:
            parts.append(QStringLiteral("⚡ %1").arg(mark.note));
            break;
        default:
            break;
        }
    }
    parts.removeDuplicates();
    return parts.join(QStringLiteral(" · "));
}
