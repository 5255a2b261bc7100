#include "captureexport.h"

#include "jsonlwriter.h"

#include <QHash>
#include <QIODevice>

CaptureExport::Counts CaptureExport::toJsonl(const CaptureStore &store, const CaptureFilter &filter, QIODevice *device)
{
    // The exchanges of each connection, in the order they came.
    QHash<quint64, QList<qsizetype>> exchangesOf;
    for (qsizetype row = 0; row < store.exchangeCount(); ++row)
        exchangesOf[store.exchangeAt(row).connectionId].append(row);

    Counts counts;
    for (qsizetype row = 0; row < store.connectionCount(); ++row) {
        const ConnectionRecord &record = store.connectionAt(row);
        QByteArray exchanges;
        qsizetype matching = 0;
        for (const qsizetype exchangeRow : exchangesOf.value(record.id)) {
            const HttpExchange &exchange = store.exchangeAt(exchangeRow);
            if (filter.isEmpty() || filter.matchesExchange(exchange, &record)) {
                exchanges += JsonlWriter::exchangeLine(exchange);
                ++matching;
            }
        }
        if (matching == 0 && !filter.isEmpty() && !filter.matchesConnection(record))
            continue;
        QByteArray lines = JsonlWriter::openedLine(record) + exchanges;
        if (record.isClosed())
            lines += JsonlWriter::closedLine(record);
        device->write(lines);
        ++counts.connections;
        counts.exchanges += matching;
    }
    return counts;
}
