#pragma once

#include <QHash>
#include <QList>
#include <QStatusBar>
#include <QTimer>

#include <utility>

class CaptureStore;
class ProxyServer;
class QLabel;
struct ConnectionRecord;
struct ProxyConfig;

// The window's status bar: where the proxy listens (and a warning when
// other machines can reach it), whether the capture is paused, live and
// total connections, traffic totals and rates over every connection
// (captured or not), and how full the capture is. Refreshes itself twice
// a second.
class ProxyStatusBar : public QStatusBar
{
    Q_OBJECT
public:
    ProxyStatusBar(const ProxyServer *server, const CaptureStore *store, QWidget *parent = nullptr);

    // Records as the server published them, before any pause or filter.
    void count(const QList<ConnectionRecord> &records);
    void setPaused(bool paused);
    void showListening(bool listening, const ProxyConfig &config);
    void refresh();

private:
    QLabel *addLabel(const QString &name, bool permanent);

    const ProxyServer *m_server;
    const CaptureStore *m_store;
    QLabel *m_remoteWarning;
    QLabel *m_paused;
    QLabel *m_listening;
    QLabel *m_connections;
    QLabel *m_traffic;
    QLabel *m_capture;
    QTimer m_timer;

    QHash<quint64, std::pair<quint64, quint64>> m_liveBytes; // up, down so far, of live connections
    quint64 m_bytesUp = 0;
    quint64 m_bytesDown = 0;
    quint64 m_lastBytesUp = 0;
    quint64 m_lastBytesDown = 0;
    qint64 m_lastRateMs = 0;
    double m_rateUp = 0;
    double m_rateDown = 0;
};
