#include "connectiontablemodel.h"

#include "displaytext.h"
#include "lifesummary.h"

#include <QBrush>
#include <QDateTime>
#include <QFont>
#include <QPalette>

ConnectionTableModel::ConnectionTableModel(CaptureStore *store, QObject *parent)
    : QAbstractTableModel(parent)
    , m_store(store)
{
    m_store->addListener(this);
    m_clock.setInterval(1000);
    connect(&m_clock, &QTimer::timeout, this, &ConnectionTableModel::tick);
    m_clock.start();
}

ConnectionTableModel::~ConnectionTableModel()
{
    m_store->removeListener(this);
}

int ConnectionTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_store->connectionCount());
}

int ConnectionTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString ConnectionTableModel::stateText(const ConnectionRecord &record)
{
    using State = ConnectionRecord::State;
    using Reason = ConnectionRecord::CloseReason;
    // What is done to a live one's traffic shows beside its state.
    const QString done = record.conditions.isEmpty() ? QString() : QStringLiteral(" · ") + record.conditions;
    switch (record.state) {
    case State::Resolving: return tr("resolving") + done;
    case State::Connecting: return tr("connecting") + done;
    case State::Open: return tr("open") + done;
    case State::ClientHalfClosed: return tr("half-closed by client") + done;
    case State::UpstreamHalfClosed: return tr("half-closed by upstream") + done;
    case State::Closed: break;
    }
    switch (record.closeReason) {
    case Reason::ClientReset: return tr("reset by client");
    case Reason::UpstreamReset: return tr("reset by upstream");
    case Reason::Error: return tr("failed: %1").arg(record.error);
    case Reason::Timeout: return tr("timed out: %1").arg(record.error);
    case Reason::Stopped: return tr("closed (proxy stopped)");
    case Reason::Fault: return tr("broken on purpose: %1").arg(record.error);
    case Reason::ClientFin: return tr("closed (client first)");
    case Reason::UpstreamFin: return tr("closed (upstream first)");
    case Reason::None: break;
    }
    return tr("closed");
}

double ConnectionTableModel::rateOf(const ConnectionRecord &record) const
{
    if (record.isClosed())
        return 0;
    const RateHistory history = m_store->rateHistory(record.id);
    const qint64 now = record.ageUs(QDateTime::currentMSecsSinceEpoch());
    double bytes = 0;
    for (int direction = 0; direction < 2; ++direction)
        bytes += history.bytesAt(now, direction) - history.bytesAt(now - 1'000'000, direction);
    return bytes;
}

QList<float> ConnectionTableModel::activityOf(const ConnectionRecord &record) const
{
    const qint64 end = record.ageUs(QDateTime::currentMSecsSinceEpoch());
    QList<float> up;
    QList<float> down;
    // Up to the last minute; a younger connection's whole life fills the cell.
    m_store->rateHistory(record.id).rates(qMax<qint64>(0, end - ActivitySpanUs), qMax<qint64>(end, 1000), ActivityBins, &up, &down);
    return up + down;
}

QVariant ConnectionTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_store->connectionCount())
        return QVariant();
    const ConnectionRecord &record = m_store->connectionAt(index.row());
    // Only the Duration column needs the clock (a live row's end is now).
    const auto durationMs = [&record] {
        const qint64 endMs = record.closedMs ? record.closedMs : QDateTime::currentMSecsSinceEpoch();
        return qMax<qint64>(0, endMs - record.openedMs);
    };
    if (role == IdRole)
        return record.id;
    if (role == SortRole) {
        switch (index.column()) {
        case Id: return record.id;
        case Started: return record.openedMs;
        case Client: return record.client;
        case Upstream: return record.upstreamAddress.isEmpty() ? record.upstream : record.upstreamAddress;
        case State: return stateText(record);
        case Life: return LifeSummary::compact(record);
        case Duration: return durationMs();
        case BytesUp: return record.bytesUp;
        case BytesDown: return record.bytesDown;
        case Rate: return rateOf(record);
        case Activity: return rateOf(record);
        case Requests: return record.requests;
        case Tls: return tlsText(record);
        case Waterfall: return record.openedMs;
        }
        return QVariant();
    }
    if (role == ActivityRole)
        return QVariant::fromValue(activityOf(record));
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Id: return QString::number(record.id);
        case Started: return DisplayText::clockTime(record.openedMs);
        case Client: return record.client;
        case Upstream:
            return record.upstreamAddress.isEmpty() || record.upstreamAddress == record.upstream
                ? record.upstream
                : tr("%1 (%2)").arg(record.upstream, record.upstreamAddress);
        case State: return stateText(record);
        case Life: return LifeSummary::compact(record);
        case Duration: return DisplayText::duration(durationMs());
        case BytesUp: return DisplayText::bytes(record.bytesUp);
        case BytesDown: return DisplayText::bytes(record.bytesDown);
        case Rate: return record.isClosed() ? QString() : DisplayText::rate(rateOf(record));
        case Requests: return record.raw ? tr("raw") : QString::number(record.requests);
        case Tls: return tlsText(record);
        }
        return QVariant();
    }
    if (role == Qt::ToolTipRole && index.column() == State && !record.error.isEmpty())
        return record.error;
    if (role == Qt::ToolTipRole && index.column() == Life && !record.timeline.isEmpty()) {
        // The marks in words: the strip's content for a glance from the list.
        QStringList lines;
        for (const TimelineMark &mark : record.timeline.marks)
            lines.append(QStringLiteral("%1 ms  %2").arg(double(mark.atUs) / 1000, 0, 'f', 3).arg(mark.describe()));
        if (lines.size() > 24)
            lines = lines.mid(0, 12) + QStringList{QStringLiteral("…")} + lines.mid(lines.size() - 11);
        return lines.join(QLatin1Char('\n'));
    }
    if (role == Qt::ToolTipRole && index.column() == Activity)
        return tr("The last minute: up (from the client) as a line, down as an area");
    if (role == Qt::ToolTipRole && index.column() == Tls && !record.decryptionNote.isEmpty())
        return record.decryptionNote;
    if (role == Qt::ForegroundRole && index.column() == Tls
        && record.decryption == ConnectionRecord::Decryption::Rejected)
        return QBrush(QColor(0xc0, 0x30, 0x20));
    if (role == Qt::TextAlignmentRole) {
        switch (index.column()) {
        case Id: case Duration: case BytesUp: case BytesDown: case Rate: case Requests:
            return int(Qt::AlignRight | Qt::AlignVCenter);
        }
        return QVariant();
    }
    if (role == Qt::ForegroundRole && index.column() == State) {
        using Reason = ConnectionRecord::CloseReason;
        switch (record.closeReason) {
        case Reason::Error: case Reason::Timeout: case Reason::ClientReset: case Reason::UpstreamReset:
            return QBrush(QColor(0xc0, 0x30, 0x20));
        default:
            break;
        }
        if (!record.isClosed())
            return QBrush(QColor(0x1a, 0x7f, 0x37));
    }
    return QVariant();
}

QString ConnectionTableModel::tlsText(const ConnectionRecord &record)
{
    using Decryption = ConnectionRecord::Decryption;
    switch (record.decryption) {
    case Decryption::Decrypted:
        return tr("decrypted %1").arg(record.clientTls().version);
    case Decryption::Passthrough:
        return tr("passthrough");
    case Decryption::Rejected:
        return tr("rejected by client");
    case Decryption::None:
        break;
    }
    return record.upstreamTls().isEmpty() ? QString() : tr("%1 to upstream").arg(record.upstreamTls().version);
}

QVariant ConnectionTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case Id: return tr("#");
    case Started: return tr("Started");
    case Client: return tr("Client");
    case Upstream: return tr("Upstream");
    case State: return tr("State");
    case Duration: return tr("Duration");
    case BytesUp: return tr("Up");
    case BytesDown: return tr("Down");
    case Rate: return tr("Rate");
    case Activity: return tr("Activity");
    case Waterfall: return tr("Waterfall");
    case Life: return tr("Ends");
    case Requests: return tr("Requests");
    case Tls: return tr("TLS");
    }
    return QVariant();
}

void ConnectionTableModel::follow(const ConnectionRecord &record)
{
    if (record.isClosed())
        m_live.remove(record.id);
    else
        m_live.insert(record.id);
}

void ConnectionTableModel::connectionsAboutToBeInserted(qsizetype first, qsizetype last)
{
    beginInsertRows(QModelIndex(), int(first), int(last));
}

void ConnectionTableModel::connectionsInserted()
{
    endInsertRows();
    // New rows come last, nearly always: the live ones among them are followed.
    for (qsizetype row = m_store->connectionCount() - 1; row >= 0; --row) {
        const ConnectionRecord &record = m_store->connectionAt(row);
        if (m_live.contains(record.id) || record.isClosed())
            break;
        m_live.insert(record.id);
    }
}

void ConnectionTableModel::connectionsAboutToBeRemoved(qsizetype first, qsizetype last)
{
    for (qsizetype row = first; row <= last; ++row)
        m_live.remove(m_store->connectionAt(row).id);
    beginRemoveRows(QModelIndex(), int(first), int(last));
}

void ConnectionTableModel::connectionsRemoved()
{
    endRemoveRows();
}

void ConnectionTableModel::connectionsChanged(qsizetype first, qsizetype last)
{
    for (qsizetype row = first; row <= last; ++row)
        follow(m_store->connectionAt(row));
    emit dataChanged(index(int(first), 0), index(int(last), ColumnCount - 1));
}

void ConnectionTableModel::aboutToBeCleared()
{
    beginResetModel();
}

void ConnectionTableModel::cleared()
{
    m_live.clear();
    endResetModel();
}

void ConnectionTableModel::tick()
{
    if (m_live.isEmpty())
        return;
    // Live rows' durations, rates and sparklines move on with the clock.
    int first = -1;
    int last = -1;
    for (const quint64 id : std::as_const(m_live)) {
        const qsizetype row = m_store->connectionRow(id);
        if (row < 0)
            continue;
        first = first < 0 ? int(row) : qMin(first, int(row));
        last = qMax(last, int(row));
    }
    // Only their looks move with the clock (duration, rate, sparkline, the
    // waterfall's axis to now): a repaint, not a change of data that a
    // sorting proxy would judge every live row again for.
    if (first >= 0)
        emit clockMoved();
}
