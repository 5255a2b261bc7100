#include "connectiontimeline.h"

#include "connectionrecord.h"

namespace {

struct KindName
{
    TimelineMark::Kind kind;
    const char *name;
};

constexpr KindName KindNames[] = {
    {TimelineMark::Kind::Accepted, "accepted"},
    {TimelineMark::Kind::Resolved, "resolved"},
    {TimelineMark::Kind::Connecting, "connecting"},
    {TimelineMark::Kind::Connected, "connected"},
    {TimelineMark::Kind::Reused, "reused"},
    {TimelineMark::Kind::ConnectFailed, "connect_failed"},
    {TimelineMark::Kind::TlsDone, "tls_done"},
    {TimelineMark::Kind::FirstByte, "first_byte"},
    {TimelineMark::Kind::Fin, "fin"},
    {TimelineMark::Kind::FinSent, "fin_sent"},
    {TimelineMark::Kind::Reset, "reset"},
    {TimelineMark::Kind::ResetSent, "reset_sent"},
    {TimelineMark::Kind::Failed, "failed"},
    {TimelineMark::Kind::StallStart, "stall"},
    {TimelineMark::Kind::StallEnd, "stall_end"},
    {TimelineMark::Kind::Timeout, "timeout"},
    {TimelineMark::Kind::Fault, "fault"},
    {TimelineMark::Kind::Closed, "closed"},
};

} // namespace

QString TimelineMark::kindName(Kind kind)
{
    for (const KindName &entry : KindNames) {
        if (entry.kind == kind)
            return QString::fromLatin1(entry.name);
    }
    return QString();
}

bool TimelineMark::kindNamed(const QString &name, Kind *kind)
{
    for (const KindName &entry : KindNames) {
        if (name == QLatin1String(entry.name)) {
            *kind = entry.kind;
            return true;
        }
    }
    return false;
}

QString TimelineMark::laneName(Lane lane)
{
    switch (lane) {
    case Lane::Client: return QStringLiteral("client");
    case Lane::Upstream: return QStringLiteral("upstream");
    case Lane::Connection: return QStringLiteral("connection");
    }
    return QString();
}

QString TimelineMark::describe() const
{
    const QString side = lane == Lane::Upstream ? QStringLiteral("the upstream") : QStringLiteral("the client");
    const QString toward = lane == Lane::Upstream ? QStringLiteral("toward the upstream")
                                                  : QStringLiteral("toward the client");
    switch (kind) {
    case Kind::Accepted: return QStringLiteral("accepted");
    case Kind::Resolved: return QStringLiteral("name resolved: %1").arg(note);
    case Kind::Connecting: return QStringLiteral("connecting to %1").arg(note);
    case Kind::Connected: return QStringLiteral("connected to %1").arg(note);
    case Kind::Reused: return QStringLiteral("kept connection to %1 taken up again").arg(note);
    case Kind::ConnectFailed: return QStringLiteral("connecting to %1 failed: %2").arg(note, QString::fromLocal8Bit(strerror(code)));
    case Kind::TlsDone: return QStringLiteral("TLS handshake with %1 done (%2)").arg(side, note);
    case Kind::FirstByte: return QStringLiteral("first byte from %1").arg(side);
    case Kind::Fin: return QStringLiteral("%1 sent FIN").arg(side);
    case Kind::FinSent: return QStringLiteral("FIN passed on %1").arg(toward);
    case Kind::Reset: return QStringLiteral("%1 reset the connection").arg(side);
    case Kind::ResetSent: return QStringLiteral("reset sent %1").arg(toward);
    case Kind::Failed: return QStringLiteral("%1 failed: %2").arg(side, QString::fromLocal8Bit(strerror(code)));
    case Kind::StallStart: return QStringLiteral("%1 stopped taking bytes (reads from the other side paused)").arg(side);
    case Kind::StallEnd: return QStringLiteral("%1 took bytes again").arg(side);
    case Kind::Timeout: return QStringLiteral("timeout: %1").arg(note);
    case Kind::Fault: return QStringLiteral("on purpose: %1").arg(note);
    case Kind::Closed:
        return QStringLiteral("closed (%1)").arg(ConnectionRecord::closeReasonName(ConnectionRecord::CloseReason(code)));
    }
    return QString();
}

const TimelineMark *ConnectionTimeline::find(TimelineMark::Kind kind, TimelineMark::Lane lane) const
{
    for (const TimelineMark &mark : marks) {
        if (mark.kind == kind && mark.lane == lane)
            return &mark;
    }
    return nullptr;
}

qint64 ConnectionTimeline::timeOf(TimelineMark::Kind kind, TimelineMark::Lane lane) const
{
    const TimelineMark *mark = find(kind, lane);
    return mark ? mark->atUs : -1;
}
