#pragma once

#include "connectionrecord.h"
#include "httpexchange.h"
#include "ratehistory.h"

#include <QHash>
#include <QList>
#include <QSet>

#include <deque>
#include <memory>

// What the window keeps of a capture: connection records (live and
// finished) in id order, and exchanges in the order they completed. Bounded
// by a number of connections and by captured bytes: the oldest exchanges go
// first when bytes run over, the oldest finished connections (with their
// exchanges) when connections do. Evictions are counted, so the user knows
// the capture is not whole.
//
// Views stay in step through a Listener that hears about every change before
// and after it happens, which is what QAbstractItemModel needs; the store
// itself knows nothing of models.
class CaptureStore
{
public:
    struct Limits
    {
        qsizetype maxConnections = 10'000;
        qint64 maxBytes = 256ll * 1024 * 1024;
    };

    struct Stats
    {
        qint64 bytes = 0;                // captured bytes held: heads, body prefixes, raw prefixes
        quint64 evictedConnections = 0;
        quint64 evictedExchanges = 0;    // including those of evicted connections
    };

    // Every change is announced to each listener just before and just after
    // it happens; a listener overrides what it follows.
    class Listener
    {
    public:
        virtual ~Listener() = default;
        virtual void connectionsAboutToBeInserted(qsizetype /*first*/, qsizetype /*last*/) {}
        virtual void connectionsInserted() {}
        virtual void connectionsAboutToBeRemoved(qsizetype /*first*/, qsizetype /*last*/) {}
        virtual void connectionsRemoved() {}
        virtual void connectionsChanged(qsizetype /*first*/, qsizetype /*last*/) {}
        virtual void exchangesAboutToBeInserted(qsizetype /*first*/, qsizetype /*last*/) {}
        virtual void exchangesInserted() {}
        virtual void exchangesAboutToBeRemoved(qsizetype /*first*/, qsizetype /*last*/) {}
        virtual void exchangesRemoved() {}
        virtual void aboutToBeCleared() {}
        virtual void cleared() {}
    };

    CaptureStore();
    explicit CaptureStore(Limits limits);

    void addListener(Listener *listener) { m_listeners.append(listener); }
    void removeListener(Listener *listener) { m_listeners.removeAll(listener); }
    void setLimits(Limits limits);
    Limits limits() const { return m_limits; }

    // One batch from ProxyServer::published: records replace the stored
    // record of the same id (or are added); exchanges are appended.
    void add(const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges);
    // Forgets everything, the eviction counts too (the user's Clear).
    void clear();

    qsizetype connectionCount() const { return qsizetype(m_connections.size()); }
    const ConnectionRecord &connectionAt(qsizetype row) const { return *m_connections[size_t(row)]; }
    // The row of a connection, or -1 when it is not (or no longer) held.
    qsizetype connectionRow(quint64 id) const;

    qsizetype exchangeCount() const { return qsizetype(m_exchanges.size()); }
    const HttpExchange &exchangeAt(qsizetype row) const { return m_exchanges[size_t(row)]; }

    const Stats &stats() const { return m_stats; }
    // A held connection's bytes each way over time, from the records the
    // batches brought (empty for one not held).
    RateHistory rateHistory(quint64 id) const { return m_rates.value(id); }

    // The captured bytes one item holds, as the byte limit counts them.
    static qint64 sizeOf(const ConnectionRecord &record);
    static qint64 sizeOf(const HttpExchange &exchange);

private:
    void insertConnections(QList<const ConnectionRecord *> added);
    // Where a connection with this id is, or would go, in id order.
    qsizetype rowFor(quint64 id) const;
    void appendExchanges(const QList<HttpExchange> &exchanges);
    void enforceLimits();
    void evictConnection(qsizetype row);
    void removeExchanges(qsizetype first, qsizetype last);
    // Rows of held exchanges that belong to a connection.
    QList<qsizetype> exchangeRowsOf(quint64 id) const;

    Limits m_limits;
    template<typename Method, typename... Args>
    void notify(Method method, Args... args)
    {
        for (Listener *listener : std::as_const(m_listeners))
            (listener->*method)(args...);
    }

    QList<Listener *> m_listeners;
    // Sorted by id, each record on its own: a busier worker's new connections
    // can come a batch after a quieter one's newer ids, and inserting them
    // among thousands of rows then moves pointers, not records.
    std::vector<std::unique_ptr<ConnectionRecord>> m_connections;
    std::vector<quint64> m_ids; // theirs, same rows: looked up without touching the records
    QList<qint64> m_connectionBytes;       // sizeOf() of each, same rows
    // In the order they came. A deque: appending never moves what is held
    // (a list of 100,000 exchanges that grows moves tens of megabytes at
    // once and stalls the window), and the oldest go from the front cheaply.
    std::deque<HttpExchange> m_exchanges;
    std::deque<qint64> m_exchangeBytes;
    QHash<quint64, qsizetype> m_exchangesOf; // held exchanges per connection id
    QHash<quint64, RateHistory> m_rates;   // per held connection
    QSet<quint64> m_evictedLive;           // evicted while open: their updates stay out
    Stats m_stats;
};
