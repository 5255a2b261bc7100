#include "captureselection.h"

void CaptureSelection::selectExchanges(QSet<ExchangeKey> keys)
{
    m_exchanges = std::move(keys);
    m_connectionsOfExchanges.clear();
    for (const ExchangeKey &key : std::as_const(m_exchanges))
        m_connectionsOfExchanges.insert(key.first);
}

bool CaptureSelection::takesExchange(const HttpExchange &exchange, const ConnectionRecord *record) const
{
    if (hasPicks() && !m_connections.contains(exchange.connectionId)
        && !m_exchanges.contains({exchange.connectionId, exchange.sequence}))
        return false;
    return m_filter.isEmpty() || m_filter.matchesExchange(exchange, record);
}

bool CaptureSelection::takesConnection(const ConnectionRecord &record, qsizetype exchangesTaken) const
{
    if (exchangesTaken > 0)
        return true;
    if (hasPicks() && !m_connections.contains(record.id))
        return false;
    return m_filter.isEmpty() || m_filter.matchesConnection(record);
}
