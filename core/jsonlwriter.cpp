#include "jsonlwriter.h"

#include "jsonline.h"

#include <QDateTime>
#include <QFileDevice>
#include <QIODevice>

JsonlWriter::JsonlWriter(QIODevice *device)
    : m_device(device)
{
}

QString JsonlWriter::isoTime(qint64 msSinceEpoch)
{
    return QDateTime::fromMSecsSinceEpoch(msSinceEpoch, Qt::UTC).toString(Qt::ISODateWithMs);
}

QByteArray JsonlWriter::openedLine(const ConnectionRecord &record)
{
    return JsonLine()
        .add("event", QStringLiteral("connection_opened"))
        .add("id", qint64(record.id))
        .add("client", record.client)
        .add("upstream", record.upstream)
        .add("time", isoTime(record.openedMs))
        .finish();
}

QByteArray JsonlWriter::closedLine(const ConnectionRecord &record)
{
    JsonLine line;
    line.add("event", QStringLiteral("connection_closed"))
        .add("id", qint64(record.id))
        .add("bytes_up", qint64(record.bytesUp))
        .add("bytes_down", qint64(record.bytesDown))
        .add("close", ConnectionRecord::closeReasonName(record.closeReason));
    if (!record.error.isEmpty())
        line.add("error", record.error);
    if (!record.upstreamAddress.isEmpty())
        line.add("upstream_address", record.upstreamAddress);
    return line.add("time", isoTime(record.closedMs))
        .add("duration_ms", qMax<qint64>(0, record.closedMs - record.openedMs))
        .finish();
}

void JsonlWriter::writeListening(const QString &listen, const QString &target)
{
    write(JsonLine()
              .add("event", QStringLiteral("listening"))
              .add("address", listen)
              .add("target", target)
              .add("time", isoTime(QDateTime::currentMSecsSinceEpoch()))
              .finish());
}

void JsonlWriter::writeRecords(const QList<ConnectionRecord> &records)
{
    QByteArray out;
    for (const ConnectionRecord &record : records) {
        // A connection that opened and closed within one batch still gets
        // both events, in order.
        if (!m_open.contains(record.id)) {
            out += openedLine(record);
            m_open.insert(record.id);
        }
        if (record.isClosed()) {
            out += closedLine(record);
            m_open.remove(record.id);
        }
    }
    write(out);
}

void JsonlWriter::writeNotice(const QString &message)
{
    write(JsonLine()
              .add("event", QStringLiteral("notice"))
              .add("message", message)
              .add("time", isoTime(QDateTime::currentMSecsSinceEpoch()))
              .finish());
}

void JsonlWriter::writeStopped()
{
    write(JsonLine()
              .add("event", QStringLiteral("stopped"))
              .add("time", isoTime(QDateTime::currentMSecsSinceEpoch()))
              .finish());
}

void JsonlWriter::write(const QByteArray &bytes)
{
    if (bytes.isEmpty() || !m_device)
        return;
    m_device->write(bytes);
    if (auto *file = qobject_cast<QFileDevice *>(m_device))
        file->flush();
}
