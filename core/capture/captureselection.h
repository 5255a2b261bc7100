#pragma once

#include "capturefilter.h"

#include <QPair>
#include <QSet>

// Which part of a capture an export or a copy takes: what a filter shows,
// narrowed to the connections or exchanges the user selected. A selected
// connection brings all its exchanges; a selected exchange brings its
// connection's record (without the other exchanges). Nothing selected and
// an empty filter: everything.
class CaptureSelection
{
public:
    using ExchangeKey = QPair<quint64, int>; // connection id, sequence

    CaptureSelection() = default;
    explicit CaptureSelection(CaptureFilter filter) : m_filter(std::move(filter)) {}

    void selectConnections(QSet<quint64> ids) { m_connections = std::move(ids); }
    void selectExchanges(QSet<ExchangeKey> keys);
    bool hasPicks() const { return !m_connections.isEmpty() || !m_exchanges.isEmpty(); }

    // record may be nullptr when it is no longer held.
    bool takesExchange(const HttpExchange &exchange, const ConnectionRecord *record) const;
    // Whether the connection goes out, given how many of its exchanges do.
    bool takesConnection(const ConnectionRecord &record, qsizetype exchangesTaken) const;

private:
    CaptureFilter m_filter;
    QSet<quint64> m_connections;
    QSet<ExchangeKey> m_exchanges;
    QSet<quint64> m_connectionsOfExchanges;
};
