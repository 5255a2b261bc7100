#include "capturestore.h"

#include <algorithm>

namespace {

qint64 headSize(const HttpHead &head)
{
    return head.raw.size() + head.assembled.size() + head.headers.size() * qint64(sizeof(HttpHead::Header));
}

} // namespace

CaptureStore::CaptureStore()
    : CaptureStore(Limits())
{
}

CaptureStore::CaptureStore(Limits limits)
    : m_limits(limits)
{
}

qint64 CaptureStore::sizeOf(const ConnectionRecord &record)
{
    return qint64(sizeof(ConnectionRecord)) + (record.client.size() + record.upstream.size()
                                               + record.upstreamAddress.size() + record.error.size()) * 2
        + record.clientPrefix.size() + record.upstreamPrefix.size();
}

qint64 CaptureStore::sizeOf(const HttpExchange &exchange)
{
    qint64 size = qint64(sizeof(HttpExchange)) + headSize(exchange.request) + headSize(exchange.response)
        + exchange.requestBody.size() + exchange.responseBody.size() + exchange.requestFraming.byteCount()
        + exchange.responseFraming.byteCount();
    for (const HttpHead &head : exchange.interim)
        size += qint64(sizeof(HttpHead)) + headSize(head);
    return size;
}

void CaptureStore::setLimits(Limits limits)
{
    m_limits = limits;
    enforceLimits();
}

qsizetype CaptureStore::rowFor(quint64 id) const
{
    return qsizetype(std::lower_bound(m_ids.cbegin(), m_ids.cend(), id) - m_ids.cbegin());
}

qsizetype CaptureStore::connectionRow(quint64 id) const
{
    const qsizetype row = rowFor(id);
    return row < connectionCount() && m_ids[size_t(row)] == id ? row : -1;
}

void CaptureStore::add(const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges)
{
    // Updates first, announced in runs of neighbouring rows: a view then
    // does its work once per run, and never for the rows between runs (with
    // thousands of live rows, one range over all of them made a sorting
    // proxy judge every row on every batch).
    QList<const ConnectionRecord *> added;
    QList<qsizetype> changed;
    for (const ConnectionRecord &record : records) {
        if (m_evictedLive.contains(record.id)) {
            if (record.isClosed())
                m_evictedLive.remove(record.id);
            continue;
        }
        m_rates[record.id].add(record.timeline.sampledUs, record.bytesUp, record.bytesDown);
        const qsizetype row = connectionRow(record.id);
        if (row < 0) {
            added.append(&record);
            continue;
        }
        const qint64 size = sizeOf(record);
        m_stats.bytes += size - m_connectionBytes[row];
        m_connectionBytes[row] = size;
        *m_connections[size_t(row)] = record;
        changed.append(row);
    }
    std::sort(changed.begin(), changed.end());
    for (qsizetype i = 0; i < changed.size();) {
        qsizetype last = i;
        while (last + 1 < changed.size() && changed[last + 1] <= changed[last] + 1)
            ++last;
        notify(&Listener::connectionsChanged, changed[i], changed[last]);
        i = last + 1;
    }
    insertConnections(added);
    appendExchanges(exchanges);
    enforceLimits();
}

void CaptureStore::insertConnections(QList<const ConnectionRecord *> added)
{
    std::sort(added.begin(), added.end(),
              [](const ConnectionRecord *a, const ConnectionRecord *b) { return a->id < b->id; });
    // New ids nearly always come after every held one, in one run. Those a
    // busier worker reported late go in runs between the held rows they
    // belong between: one announcement per run.
    for (qsizetype i = 0; i < added.size();) {
        const qsizetype row = rowFor(added[i]->id);
        qsizetype end = i + 1;
        while (end < added.size() && (row == connectionCount() || added[end]->id < m_ids[size_t(row)]))
            ++end;
        const qsizetype count = end - i;
        std::vector<std::unique_ptr<ConnectionRecord>> run;
        run.reserve(size_t(count));
        for (qsizetype k = i; k < end; ++k)
            run.push_back(std::make_unique<ConnectionRecord>(*added[k]));
        notify(&Listener::connectionsAboutToBeInserted, row, row + count - 1);
        m_connections.insert(m_connections.begin() + row, std::make_move_iterator(run.begin()),
                             std::make_move_iterator(run.end()));
        m_ids.insert(m_ids.begin() + row, size_t(count), 0);
        m_connectionBytes.insert(row, count, 0);
        for (qsizetype k = 0; k < count; ++k) {
            m_ids[size_t(row + k)] = added[i + k]->id;
            m_connectionBytes[row + k] = sizeOf(*added[i + k]);
            m_stats.bytes += m_connectionBytes[row + k];
        }
        notify(&Listener::connectionsInserted);
        i = end;
    }
}

void CaptureStore::appendExchanges(const QList<HttpExchange> &exchanges)
{
    QList<HttpExchange> kept;
    kept.reserve(exchanges.size());
    for (const HttpExchange &exchange : exchanges) {
        if (m_evictedLive.contains(exchange.connectionId))
            ++m_stats.evictedExchanges;
        else
            kept.append(exchange);
    }
    if (kept.isEmpty())
        return;
    const qsizetype first = exchangeCount();
    notify(&Listener::exchangesAboutToBeInserted, first, first + kept.size() - 1);
    for (const HttpExchange &exchange : kept) {
        const qint64 size = sizeOf(exchange);
        ++m_exchangesOf[exchange.connectionId];
        m_exchanges.push_back(exchange);
        m_exchangeBytes.push_back(size);
        m_stats.bytes += size;
    }
    notify(&Listener::exchangesInserted);
}

void CaptureStore::enforceLimits()
{
    // Bytes: the oldest exchanges first, since they are nearly all of it.
    qsizetype drop = 0;
    qint64 freed = 0;
    while (drop < exchangeCount() && m_stats.bytes - freed > m_limits.maxBytes)
        freed += m_exchangeBytes[size_t(drop++)];
    if (drop > 0)
        removeExchanges(0, drop - 1);
    // Then whole connections: over the count, or still over the bytes
    // (raw prefixes) with no exchange left to give.
    while (connectionCount() > 0
           && (connectionCount() > m_limits.maxConnections || m_stats.bytes > m_limits.maxBytes)) {
        // The oldest finished connection; the oldest of all only when every
        // one is live.
        qsizetype row = 0;
        while (row < connectionCount() && !connectionAt(row).isClosed())
            ++row;
        if (row == connectionCount()) {
            row = 0;
            m_evictedLive.insert(connectionAt(0).id);
        }
        evictConnection(row);
    }
}

void CaptureStore::evictConnection(qsizetype row)
{
    const quint64 id = connectionAt(row).id;
    // Its exchanges, in runs of neighbouring rows, from the back so that
    // the rows still to remove stay valid.
    const QList<qsizetype> rows = exchangeRowsOf(id);
    for (qsizetype i = rows.size() - 1; i >= 0;) {
        qsizetype first = i;
        while (first > 0 && rows[first - 1] == rows[first] - 1)
            --first;
        removeExchanges(rows[first], rows[i]);
        i = first - 1;
    }
    notify(&Listener::connectionsAboutToBeRemoved, row, row);
    m_stats.bytes -= m_connectionBytes[row];
    m_rates.remove(id);
    m_connections.erase(m_connections.begin() + row);
    m_ids.erase(m_ids.begin() + row);
    m_connectionBytes.removeAt(row);
    ++m_stats.evictedConnections;
    notify(&Listener::connectionsRemoved);
}

void CaptureStore::removeExchanges(qsizetype first, qsizetype last)
{
    notify(&Listener::exchangesAboutToBeRemoved, first, last);
    for (qsizetype i = first; i <= last; ++i) {
        m_stats.bytes -= m_exchangeBytes[size_t(i)];
        const auto count = m_exchangesOf.find(m_exchanges[size_t(i)].connectionId);
        if (--*count == 0)
            m_exchangesOf.erase(count);
    }
    const qsizetype count = last - first + 1;
    m_exchanges.erase(m_exchanges.begin() + first, m_exchanges.begin() + first + count);
    m_exchangeBytes.erase(m_exchangeBytes.begin() + first, m_exchangeBytes.begin() + first + count);
    m_stats.evictedExchanges += quint64(count);
    notify(&Listener::exchangesRemoved);
}

QList<qsizetype> CaptureStore::exchangeRowsOf(quint64 id) const
{
    // Evicted connections are the oldest, so their exchanges are near the
    // front: stop as soon as all of them are found.
    QList<qsizetype> rows;
    qsizetype wanted = m_exchangesOf.value(id);
    for (qsizetype row = 0; wanted > 0 && row < exchangeCount(); ++row) {
        if (m_exchanges[size_t(row)].connectionId == id) {
            rows.append(row);
            --wanted;
        }
    }
    return rows;
}

void CaptureStore::clear()
{
    notify(&Listener::aboutToBeCleared);
    m_connections.clear();
    m_ids.clear();
    m_connectionBytes.clear();
    m_exchanges.clear();
    m_exchangeBytes.clear();
    m_evictedLive.clear();
    m_exchangesOf.clear();
    m_rates.clear();
    m_stats = Stats();
    notify(&Listener::cleared);
}
