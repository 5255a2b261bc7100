#pragma once

#include "connectionrecord.h"

#include <QByteArray>
#include <QMap>
#include <QObject>

class ProxyServer;
class QSocketNotifier;

// What the window's row menu does to one live connection, headless: lines
// read from standard input (--commands), each answered on standard error.
//
//   list                          the live connections, one per line
//   act ID FAULT                  reset:side=client, half-close:toward=upstream,
//                                 stall:dir=up,for=2s, blackhole:dir=down,
//                                 resume:dir=both, limit:dir=down,bytes=1000, close
//   throttle ID CONDITION | off   down:bandwidth=1MB/s,latency=50ms; off: both unthrottled
//   help
//
// The fault marks say "by a command", as the window's say "by the user".
class HeadlessCommands : public QObject
{
    Q_OBJECT
public:
    HeadlessCommands(ProxyServer *server, QObject *parent = nullptr);

    // Reads commands from descriptor fd (standard input) as they come;
    // its end leaves the proxy running.
    void listen(int fd);
    // The reports' records: which connections are live, for list and for
    // an id that is not.
    void track(const QList<ConnectionRecord> &records);
    // Does one command; the answer (one or more lines).
    QString run(const QString &line);

signals:
    void answered(const QString &text);

private:
    void readable();
    QString list() const;
    static QString help();

    ProxyServer *m_server;
    QMap<quint64, ConnectionRecord> m_live; // by id, in accept order
    QSocketNotifier *m_notifier = nullptr;
    int m_fd = -1;
    QByteArray m_pending; // a line not finished yet
};
