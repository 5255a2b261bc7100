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

bool ExchangeFilterModel::lessThan(const QModelIndex &left, const QModelIndex &right) const
{
    const HttpExchange &a = m_store->exchangeAt(left.row());
    const HttpExchange &b = m_store->exchangeAt(right.row());
    const auto byConnection = [&] {
        return a.connectionId != b.connectionId ? a.connectionId < b.connectionId : a.sequence < b.sequence;
    };
    const auto then = [&](auto x, auto y) { return x != y ? x < y : byConnection(); };
    switch (left.column()) {
    case ExchangeTableModel::Method: return then(a.request.method(), b.request.method());
    case ExchangeTableModel::Host: return then(a.request.host(), b.request.host());
    case ExchangeTableModel::Target: return then(a.request.target(), b.request.target());
    case ExchangeTableModel::Status: return then(a.response.status, b.response.status);
    case ExchangeTableModel::RequestSize: return then(a.requestBodyBytes, b.requestBodyBytes);
    case ExchangeTableModel::ResponseSize: return then(a.responseBodyBytes, b.responseBodyBytes);
    case ExchangeTableModel::Time:
        return then(ExchangeTableModel::elapsedMs(a), ExchangeTableModel::elapsedMs(b));
    case ExchangeTableModel::Flags: return then(a.flags, b.flags);
    default: return byConnection();
    }
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
