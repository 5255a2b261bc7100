#pragma once

#include "connectionrecord.h"
#include "httpexchange.h"

#include <QHash>
#include <QObject>

class ProxyServer;

// Keeps the latest record of every connection a ProxyServer reported, as an
// observer in the test's thread would.
class RecordCollector : public QObject
{
    Q_OBJECT
public:
    explicit RecordCollector(ProxyServer *server);

    QList<ConnectionRecord> closed() const;
    ConnectionRecord latest(quint64 id) const { return m_latest.value(id); }
    int batches() const { return m_batches; }
    int maxBatchRecords() const { return m_maxBatch; }
    // Spins the event loop until count connections have closed or time is up.
    bool waitForClosed(int count, int timeoutMs = 10'000);
    // The only closed record, once there is exactly one.
    ConnectionRecord waitForOnlyClosed(int timeoutMs = 10'000);
    void clear() { m_latest.clear(); }
    const QList<HttpExchange> &exchanges() const { return m_exchanges; }
    bool waitForExchanges(int count, int timeoutMs = 10'000);

private:
    QHash<quint64, ConnectionRecord> m_latest;
    QList<HttpExchange> m_exchanges;
    int m_batches = 0;
    int m_maxBatch = 0;
};
