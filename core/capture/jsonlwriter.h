#pragma once

#include "capturefilter.h"
#include "connectionrecord.h"
#include "httpexchange.h"
#include "proxyconfig.h"

#include <QHash>
#include <QSet>
#include <QString>

class QIODevice;

// Turns the engine's record batches into the headless JSON Lines stream: one
// object per line per event, flushed after each batch so that a reader
// following the file (or a pipe) sees events as they happen.
class JsonlWriter
{
public:
    explicit JsonlWriter(QIODevice *device);

    // Only what matches goes out, as the window's filter field shows it: an
    // exchange that matches (judged with its connection), and a connection
    // whose record matches or that carried a matching exchange. A
    // connection's opened event waits until it is known to match, so the
    // stream stays in order: opened, exchanges, closed.
    void setFilter(const CaptureFilter &filter) { m_filter = filter; }

    void writeListening(const ProxyConfig &config);
    // One batch in order: new connections, then the exchanges, then the
    // connections that closed.
    void writeBatch(const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges);
    void writeNotice(const QString &message);
    void writeStopped();

    // Lines for one record; pure, so it can be tested without a device.
    static QByteArray openedLine(const ConnectionRecord &record);
    static QByteArray closedLine(const ConnectionRecord &record);
    static QByteArray exchangeLine(const HttpExchange &exchange);
    static QString isoTime(qint64 msSinceEpoch);

private:
    void write(const QByteArray &line);
    // Appends the opened line once for a connection that goes out.
    void announce(const ConnectionRecord &record, QByteArray *out);

    QIODevice *m_device;
    QSet<quint64> m_open; // ids whose connection_opened was written
    CaptureFilter m_filter;
    QHash<quint64, ConnectionRecord> m_live; // filtered: the latest record of each live connection
};
