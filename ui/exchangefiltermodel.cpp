#include "exchangefiltermodel.h"

#include "exchangetablemodel.h"

ExchangeFilterModel::ExchangeFilterModel(const CaptureStore *store, QObject *parent)
    : QSortFilterProxyModel(parent)
    , m_store(store)
{
    setSortRole(ExchangeTableModel::SortRole);
}

void ExchangeFilterModel::setFilter(const CaptureFilter &filter)
{
    m_filter = filter;
    invalidateRowsFilter();
}

void ExchangeFilterModel::setConnection(quint64 id)
{
    if (id == m_connection)
        return;
    m_connection = id;
    invalidateRowsFilter();
}

bool ExchangeFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex &) const
{
    const HttpExchange &exchange = m_store->exchangeAt(sourceRow);
    if (m_connection && exchange.connectionId != m_connection)
        return false;
    if (m_filter.isEmpty())
        return true;
    const qsizetype recordRow = m_store->connectionRow(exchange.connectionId);
    return m_filter.matchesExchange(exchange, recordRow < 0 ? nullptr : &m_store->connectionAt(recordRow));
}
