#include "connectiontablemodel.h"

#include "displaytext.h"

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
    switch (record.state) {
    case State::Resolving: return tr("resolving");
    case State::Connecting: return tr("connecting");
    case State::Open: return tr("open");
    case State::ClientHalfClosed: return tr("half-closed by client");
    case State::UpstreamHalfClosed: return tr("half-closed by upstream");
    case State::Closed: break;
    }
    switch (record.closeReason) {
    case Reason::ClientReset: return tr("reset by client");
    case Reason::UpstreamReset: return tr("reset by upstream");
    case Reason::Error: return tr("failed: %1").arg(record.error);
    case Reason::Timeout: return tr("timed out: %1").arg(record.error);
    case Reason::Stopped: return tr("closed (proxy stopped)");
    case Reason::ClientFin: return tr("closed (client first)");
    case Reason::UpstreamFin: return tr("closed (upstream first)");
    case Reason::None: break;
    }
    return tr("closed");
}

double ConnectionTableModel::rateOf(quint64 id) const
{
    return m_rates.value(id).rate;
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
        case Duration: return durationMs();
        case BytesUp: return record.bytesUp;
        case BytesDown: return record.bytesDown;
        case Rate: return rateOf(record.id);
        case Requests: return record.requests;
        case Tls: return tlsText(record);
        }
        return QVariant();
    }
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
        case Duration: return DisplayText::duration(durationMs());
        case BytesUp: return DisplayText::bytes(record.bytesUp);
        case BytesDown: return DisplayText::bytes(record.bytesDown);
        case Rate: return record.isClosed() ? QString() : DisplayText::rate(rateOf(record.id));
        case Requests: return record.raw ? tr("raw") : QString::number(record.requests);
        case Tls: return tlsText(record);
        }
        return QVariant();
    }
    if (role == Qt::ToolTipRole && index.column() == State && !record.error.isEmpty())
        return record.error;
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
        return tr("decrypted %1").arg(record.clientTls.version);
    case Decryption::Passthrough:
        return tr("passthrough");
    case Decryption::Rejected:
        return tr("rejected by client");
    case Decryption::None:
        break;
    }
    return record.upstreamTls.isEmpty() ? QString() : tr("%1 to upstream").arg(record.upstreamTls.version);
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
    case Requests: return tr("Requests");
    case Tls: return tr("TLS");
    }
    return QVariant();
}

void ConnectionTableModel::sample(const ConnectionRecord &record, qint64 nowMs)
{
    if (record.isClosed()) {
        m_rates.remove(record.id);
        return;
    }
    const quint64 bytes = record.bytesUp + record.bytesDown;
    auto it = m_rates.find(record.id);
    if (it == m_rates.end()) {
        m_rates.insert(record.id, RateSample{bytes, nowMs, 0});
        return;
    }
    // At least a quarter second between samples, so that one 50 ms batch
    // does not make a spike.
    if (nowMs - it->atMs < 250)
        return;
    it->rate = double(bytes - it->bytes) * 1000.0 / double(nowMs - it->atMs);
    it->bytes = bytes;
    it->atMs = nowMs;
}

void ConnectionTableModel::connectionsAboutToBeInserted(qsizetype first, qsizetype last)
{
    beginInsertRows(QModelIndex(), int(first), int(last));
}

void ConnectionTableModel::connectionsInserted()
{
    endInsertRows();
}

void ConnectionTableModel::connectionsAboutToBeRemoved(qsizetype first, qsizetype last)
{
    for (qsizetype row = first; row <= last; ++row)
        m_rates.remove(m_store->connectionAt(row).id);
    beginRemoveRows(QModelIndex(), int(first), int(last));
}

void ConnectionTableModel::connectionsRemoved()
{
    endRemoveRows();
}

void ConnectionTableModel::connectionsChanged(qsizetype first, qsizetype last)
{
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    for (qsizetype row = first; row <= last; ++row)
        sample(m_store->connectionAt(row), now);
    emit dataChanged(index(int(first), 0), index(int(last), ColumnCount - 1));
}

void ConnectionTableModel::aboutToBeCleared()
{
    beginResetModel();
}

void ConnectionTableModel::cleared()
{
    m_rates.clear();
    endResetModel();
}

void ConnectionTableModel::tick()
{
    if (m_rates.isEmpty())
        return;
    // Connections that said nothing for a while are idle: their rate decays
    // to zero rather than freezing at the last value.
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    int first = -1;
    int last = -1;
    for (auto it = m_rates.begin(); it != m_rates.end(); ++it) {
        if (now - it->atMs >= 1000)
            it->rate = 0;
        const qsizetype row = m_store->connectionRow(it.key());
        if (row < 0)
            continue;
        first = first < 0 ? int(row) : qMin(first, int(row));
        last = qMax(last, int(row));
    }
    if (first >= 0)
        emit dataChanged(index(first, Duration), index(last, Rate));
}
