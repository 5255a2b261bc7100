#pragma once

#include "capturefilter.h"
#include "connectionrecord.h"
#include "httpexchange.h"
#include "listenerinfo.h"

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
    // With bodies (--bodies, and every saved session): exchanges carry
    // their heads' raw bytes and the body bytes kept, raw connections their
    // first bytes, all exactly (JsonLine::exactBytes), so that the stream
    // can be opened again as it was.
    void setBodies(bool on) { m_bodies = on; }
    // Live connections are remembered so that writeSamples() can speak of
    // them (--jsonl-samples).
    void setSampling(bool on) { m_sampling = on; }

    void writeListening(const ListenerInfo &listener);
    // One batch in order: new connections and the faults that fired on
    // them, then the exchanges, then the connections that closed.
    void writeBatch(const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges);
    // A connection_sample line for each live connection written so far:
    // its bytes as of its latest record and the rate each way since the
    // previous sample.
    void writeSamples();
    void writeNotice(const QString &message);
    void writeStopped();

    // Lines for one record; pure, so it can be tested without a device.
    static QByteArray openedLine(const ConnectionRecord &record);
    static QByteArray closedLine(const ConnectionRecord &record, bool bodies = false);
    // A live connection as it stands, in a saved session: the fields of
    // connection_closed with its state, and no end time.
    static QByteArray snapshotLine(const ConnectionRecord &record, bool bodies = false);
    static QByteArray exchangeLine(const HttpExchange &exchange, bool bodies = false);
    // A fault that fired on a connection (a fault mark of its timeline).
    static QByteArray faultLine(const ConnectionRecord &record, const TimelineMark &mark);
    static QString isoTime(qint64 msSinceEpoch);

private:
    void write(const QByteArray &line);
    // Appends the opened line once for a connection that goes out.
    void announce(const ConnectionRecord &record, QByteArray *out);
    // Appends a line for each fault mark of the record not written yet.
    void announceFaults(const ConnectionRecord &record, QByteArray *out);
    static QByteArray recordLine(const char *event, const ConnectionRecord &record, bool bodies);

    QIODevice *m_device;
    QSet<quint64> m_open; // ids whose connection_opened was written
    QHash<quint64, int> m_faultsWritten; // fault lines written per live connection
    CaptureFilter m_filter;
    bool m_bodies = false;
    bool m_sampling = false;
    // Filtered or sampling: the latest record of each live connection.
    QHash<quint64, ConnectionRecord> m_live;
    struct Sample
    {
        qint64 atUs = 0; // the record's timeline.sampledUs
        quint64 up = 0;
        quint64 down = 0;
    };
    QHash<quint64, Sample> m_lastSample;
};
