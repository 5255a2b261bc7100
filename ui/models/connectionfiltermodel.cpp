#include "connectionfiltermodel.h"

#include "connectiontablemodel.h"

ConnectionFilterModel::ConnectionFilterModel(CaptureStore *store, QObject *parent)
    : QSortFilterProxyModel(parent)
    , m_store(store)
{
    setSortRole(ConnectionTableModel::SortRole);
    m_store->addListener(this);
}

ConnectionFilterModel::~ConnectionFilterModel()
{
    m_store->removeListener(this);
}

void ConnectionFilterModel::setFilter(const CaptureFilter &filter)
{
    m_filter = filter;
    m_withMatchingExchange.clear();
    if (!m_filter.isEmpty())
        noteMatches(0, m_store->exchangeCount() - 1);
    m_exchangesSeen = m_store->exchangeCount();
    invalidateRowsFilter();
}

void ConnectionFilterModel::noteMatches(qsizetype first, qsizetype last)
{
    for (qsizetype row = first; row <= last; ++row) {
        const HttpExchange &exchange = m_store->exchangeAt(row);
        if (m_withMatchingExchange.contains(exchange.connectionId))
            continue;
        const qsizetype recordRow = m_store->connectionRow(exchange.connectionId);
        const ConnectionRecord *record = recordRow < 0 ? nullptr : &m_store->connectionAt(recordRow);
        if (m_filter.matchesExchange(exchange, record))
            m_withMatchingExchange.insert(exchange.connectionId);
    }
}

void ConnectionFilterModel::exchangesAboutToBeRemoved(qsizetype first, qsizetype last)
{
    // Rows already judged that go shift the judged count down with them.
    if (first < m_exchangesSeen)
        m_exchangesSeen -= qMin(last, m_exchangesSeen - 1) - first + 1;
}

void ConnectionFilterModel::exchangesInserted()
{
    // The store appends: only rows past those already judged are new.
    const qsizetype count = m_store->exchangeCount();
    const qsizetype first = m_exchangesSeen;
    m_exchangesSeen = count;
    if (m_filter.isEmpty())
        return;
    const qsizetype before = m_withMatchingExchange.size();
    noteMatches(first, count - 1);
    if (m_withMatchingExchange.size() != before)
        invalidateRowsFilter();
}

void ConnectionFilterModel::cleared()
{
    m_withMatchingExchange.clear();
    m_exchangesSeen = 0;
}

bool ConnectionFilterModel::lessThan(const QModelIndex &left, const QModelIndex &right) const
{
    // Numbers straight from the store; the text columns through the model.
    const ConnectionRecord &a = m_store->connectionAt(left.row());
    const ConnectionRecord &b = m_store->connectionAt(right.row());
    const auto then = [&](auto x, auto y) { return x != y ? x < y : a.id < b.id; };
    switch (left.column()) {
    case ConnectionTableModel::Id: return a.id < b.id;
    case ConnectionTableModel::Started: return then(a.openedMs, b.openedMs);
    case ConnectionTableModel::BytesUp: return then(a.bytesUp, b.bytesUp);
    case ConnectionTableModel::BytesDown: return then(a.bytesDown, b.bytesDown);
    case ConnectionTableModel::Requests: return then(a.requests, b.requests);
    default: return QSortFilterProxyModel::lessThan(left, right);
    }
}

bool ConnectionFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex &) const
{
    if (m_filter.isEmpty())
        return true;
    const ConnectionRecord &record = m_store->connectionAt(sourceRow);
    return m_filter.matchesConnection(record) || m_withMatchingExchange.contains(record.id);
}
