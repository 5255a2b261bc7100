#include "exchangetablemodel.h"

#include "displaytext.h"

#include <QBrush>
#include <QStringList>

ExchangeTableModel::ExchangeTableModel(CaptureStore *store, QObject *parent)
    : QAbstractTableModel(parent)
    , m_store(store)
{
    m_store->addListener(this);
}

ExchangeTableModel::~ExchangeTableModel()
{
    m_store->removeListener(this);
}

int ExchangeTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_store->exchangeCount());
}

int ExchangeTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString ExchangeTableModel::flagText(quint32 flags)
{
    QStringList words;
    if (flags & HttpHead::MalformedLine)
        words.append(tr("malformed line"));
    if (flags & HttpHead::Truncated)
        words.append(tr("head truncated at the cap"));
    if (flags & HttpHead::AmbiguousFraming)
        words.append(tr("ambiguous framing (request smuggling risk)"));
    if (flags & HttpHead::ControlCharacter)
        words.append(tr("control character or bare CR in the head (request smuggling risk)"));
    if (flags & HttpHead::LaxChunkFraming)
        words.append(tr("chunk framing servers read differently (request smuggling risk)"));
    if (flags & HttpHead::BodyShort)
        words.append(tr("body shorter than announced"));
    if (flags & HttpHead::BareLineFeed)
        words.append(tr("bare LF line ends"));
    return words.join(QStringLiteral(", "));
}

qint64 ExchangeTableModel::elapsedMs(const HttpExchange &exchange)
{
    const qint64 end = qMax(qMax(exchange.responseCompleteMs, exchange.responseStartMs), exchange.requestCompleteMs);
    return end && exchange.requestStartMs ? qMax<qint64>(0, end - exchange.requestStartMs) : 0;
}

QVariant ExchangeTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_store->exchangeCount())
        return QVariant();
    const HttpExchange &exchange = m_store->exchangeAt(index.row());
    const quint32 serious = exchange.flags & ~quint32(HttpHead::BareLineFeed);
    if (role == ConnectionIdRole)
        return exchange.connectionId;
    if (role == SortRole) {
        switch (index.column()) {
        case Connection: return exchange.connectionId * 100000 + quint64(exchange.sequence);
        case Method: return QString::fromLatin1(exchange.request.method());
        case Host: return QString::fromLatin1(exchange.request.host());
        case Target: return QString::fromLatin1(exchange.request.target());
        case Status: return exchange.response.status;
        case RequestSize: return exchange.requestBodyBytes;
        case ResponseSize: return exchange.responseBodyBytes;
        case Time: return elapsedMs(exchange);
        case Flags: return exchange.flags;
        }
        return QVariant();
    }
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
        case Connection: return QStringLiteral("%1.%2").arg(exchange.connectionId).arg(exchange.sequence);
        case Method:
            return exchange.request.isEmpty() ? tr("(none)") : QString::fromLatin1(exchange.request.method());
        case Host: return QString::fromLatin1(exchange.request.host());
        case Target: return QString::fromLatin1(exchange.request.target());
        case Status:
            if (exchange.hasResponse())
                return QStringLiteral("%1 %2").arg(exchange.response.status).arg(QString::fromLatin1(exchange.response.reason()));
            return exchange.complete ? QString() : tr("no response");
        case RequestSize: return DisplayText::bytes(exchange.requestBodyBytes);
        case ResponseSize: return DisplayText::bytes(exchange.responseBodyBytes);
        case Time: return DisplayText::duration(elapsedMs(exchange));
        case Flags: return serious ? QStringLiteral("⚠") : QString();
        }
        return QVariant();
    }
    if (role == Qt::ToolTipRole && exchange.flags)
        return flagText(exchange.flags);
    if (role == Qt::TextAlignmentRole) {
        switch (index.column()) {
        case RequestSize: case ResponseSize: case Time:
            return int(Qt::AlignRight | Qt::AlignVCenter);
        }
        return QVariant();
    }
    if (role == Qt::ForegroundRole) {
        if (serious && index.column() == Flags)
            return QBrush(QColor(0xc0, 0x60, 0x00));
        if (index.column() == Status) {
            const int status = exchange.response.status;
            if (status >= 500 || status == 0)
                return QBrush(QColor(0xc0, 0x30, 0x20));
            if (status >= 400)
                return QBrush(QColor(0xb0, 0x60, 0x00));
        }
    }
    if (role == Qt::BackgroundRole && serious)
        return QBrush(QColor(0xff, 0xf1, 0xd6));
    return QVariant();
}

QVariant ExchangeTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case Connection: return tr("#");
    case Method: return tr("Method");
    case Host: return tr("Host");
    case Target: return tr("Target");
    case Status: return tr("Status");
    case RequestSize: return tr("Sent");
    case ResponseSize: return tr("Received");
    case Time: return tr("Time");
    case Flags: return tr("!");
    }
    return QVariant();
}

void ExchangeTableModel::exchangesAboutToBeInserted(qsizetype first, qsizetype last)
{
    beginInsertRows(QModelIndex(), int(first), int(last));
}

void ExchangeTableModel::exchangesInserted()
{
    endInsertRows();
}

void ExchangeTableModel::exchangesAboutToBeRemoved(qsizetype first, qsizetype last)
{
    beginRemoveRows(QModelIndex(), int(first), int(last));
}

void ExchangeTableModel::exchangesRemoved()
{
    endRemoveRows();
}

void ExchangeTableModel::aboutToBeCleared()
{
    beginResetModel();
}

void ExchangeTableModel::cleared()
{
    endResetModel();
}
