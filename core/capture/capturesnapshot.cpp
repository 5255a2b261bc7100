#include "capturesnapshot.h"

#include <QHash>

CaptureSnapshot CaptureSnapshot::take(const CaptureStore &store, const CaptureSelection &selection)
{
    // The exchanges of each connection, in the order they came.
    QHash<quint64, QList<qsizetype>> exchangesOf;
    for (qsizetype row = 0; row < store.exchangeCount(); ++row)
        exchangesOf[store.exchangeAt(row).connectionId].append(row);

    CaptureSnapshot snapshot;
    for (qsizetype row = 0; row < store.connectionCount(); ++row) {
        const ConnectionRecord &record = store.connectionAt(row);
        Entry entry;
        for (const qsizetype exchangeRow : exchangesOf.value(record.id)) {
            const HttpExchange &exchange = store.exchangeAt(exchangeRow);
            if (selection.takesExchange(exchange, &record))
                entry.exchanges.append(exchange);
        }
        if (!selection.takesConnection(record, entry.exchanges.size()))
            continue;
        entry.record = record;
        snapshot.exchangeCount += entry.exchanges.size();
        snapshot.entries.append(std::move(entry));
    }
    return snapshot;
}
