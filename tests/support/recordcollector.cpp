#include "recordcollector.h"

#include "proxyserver.h"

#include <QTest>

RecordCollector::RecordCollector(ProxyServer *server)
    : QObject(server)
{
    connect(server, &ProxyServer::connectionsUpdated, this, [this](const QList<ConnectionRecord> &records) {
        ++m_batches;
        m_maxBatch = qMax(m_maxBatch, int(records.size()));
        for (const ConnectionRecord &record : records)
            m_latest.insert(record.id, record);
    });
    connect(server, &ProxyServer::published, this,
            [this](const QList<ConnectionRecord> &, const QList<HttpExchange> &exchanges) { m_exchanges.append(exchanges); });
}

bool RecordCollector::waitForExchanges(int count, int timeoutMs)
{
    return QTest::qWaitFor([&] { return m_exchanges.size() >= count; }, timeoutMs);
}

QList<ConnectionRecord> RecordCollector::closed() const
{
    QList<ConnectionRecord> result;
    for (const ConnectionRecord &record : m_latest) {
        if (record.isClosed())
            result.append(record);
    }
    std::sort(result.begin(), result.end(),
              [](const ConnectionRecord &a, const ConnectionRecord &b) { return a.id < b.id; });
    return result;
}

bool RecordCollector::waitForClosed(int count, int timeoutMs)
{
    return QTest::qWaitFor([&] { return closed().size() >= count; }, timeoutMs);
}

ConnectionRecord RecordCollector::waitForOnlyClosed(int timeoutMs)
{
    if (!waitForClosed(1, timeoutMs))
        return ConnectionRecord();
    return closed().first();
}
