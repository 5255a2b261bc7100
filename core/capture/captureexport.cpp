#include "captureexport.h"

#include "jsonline.h"
#include "jsonlwriter.h"

#include <QIODevice>

CaptureExport::Counts CaptureExport::toJsonl(const CaptureSnapshot &snapshot, QIODevice *device,
                                             const Progress &progress)
{
    return write(snapshot, device, false, progress);
}

CaptureExport::Counts CaptureExport::toSession(const CaptureSnapshot &snapshot, QIODevice *device,
                                               const Progress &progress)
{
    return write(snapshot, device, true, progress);
}

CaptureExport::Counts CaptureExport::write(const CaptureSnapshot &snapshot, QIODevice *device, bool session,
                                           const Progress &progress)
{
    Counts counts;
    if (session) {
        const QByteArray header = JsonLine()
                                      .add("event", QStringLiteral("session"))
                                      .add("format", QString::fromLatin1(sessionFormat()))
                                      .add("connections", qint64(snapshot.entries.size()))
                                      .add("exchanges", qint64(snapshot.exchangeCount))
                                      .finish();
        if (device->write(header) != header.size()) {
            counts.complete = false;
            return counts;
        }
    }
    for (const CaptureSnapshot::Entry &entry : snapshot.entries) {
        QByteArray lines = JsonlWriter::openedLine(entry.record);
        for (const HttpExchange &exchange : entry.exchanges)
            lines += JsonlWriter::exchangeLine(exchange, session);
        if (entry.record.isClosed())
            lines += JsonlWriter::closedLine(entry.record, session);
        else if (session)
            lines += JsonlWriter::snapshotLine(entry.record, true);
        if (!counts.written(device, lines, entry.exchanges.size(), snapshot.entries.size(), progress))
            return counts;
    }
    return counts;
}

bool CaptureExport::Counts::written(QIODevice *device, const QByteArray &bytes, qsizetype exchangeCount,
                                    qsizetype total, const Progress &progress)
{
    if (device->write(bytes) != bytes.size()) {
        complete = false;
        return false;
    }
    ++connections;
    exchanges += exchangeCount;
    if (progress && !progress(connections, total)) {
        complete = false;
        return false;
    }
    return true;
}
