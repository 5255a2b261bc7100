#include "proxystatusbar.h"

#include "bannerstyle.h"
#include "capturestore.h"
#include "displaytext.h"
#include "proxyconfig.h"
#include "proxyserver.h"

#include <QDateTime>
#include <QLabel>

ProxyStatusBar::ProxyStatusBar(const ProxyServer *server, const CaptureStore *store, QWidget *parent)
    : QStatusBar(parent)
    , m_server(server)
    , m_store(store)
    , m_remoteWarning(addLabel(QStringLiteral("remoteWarning"), false))
    , m_paused(addLabel(QStringLiteral("pausedLabel"), false))
    , m_listening(addLabel(QStringLiteral("statusListening"), false))
    , m_connections(addLabel(QStringLiteral("statusConnections"), true))
    , m_traffic(addLabel(QStringLiteral("statusTraffic"), true))
    , m_capture(addLabel(QStringLiteral("statusCapture"), true))
{
    m_remoteWarning->setStyleSheet(BannerStyle::error());
    m_remoteWarning->hide();
    m_paused->setText(tr("Capture paused: forwarding goes on, nothing new is recorded"));
    m_paused->setStyleSheet(BannerStyle::warning());
    m_paused->hide();
    m_timer.setInterval(500);
    connect(&m_timer, &QTimer::timeout, this, &ProxyStatusBar::refresh);
    m_timer.start();
}

QLabel *ProxyStatusBar::addLabel(const QString &name, bool permanent)
{
    auto *label = new QLabel(this);
    label->setObjectName(name);
    if (permanent)
        addPermanentWidget(label);
    else
        addWidget(label);
    return label;
}

void ProxyStatusBar::count(const QList<ConnectionRecord> &records)
{
    for (const ConnectionRecord &record : records) {
        auto it = m_liveBytes.find(record.id);
        const auto before = it == m_liveBytes.end() ? std::pair<quint64, quint64>(0, 0) : *it;
        m_bytesUp += record.bytesUp - before.first;
        m_bytesDown += record.bytesDown - before.second;
        if (record.isClosed())
            m_liveBytes.remove(record.id);
        else
            m_liveBytes.insert(record.id, {record.bytesUp, record.bytesDown});
    }
}

void ProxyStatusBar::setPaused(bool paused)
{
    m_paused->setVisible(paused);
    refresh();
}

void ProxyStatusBar::showListening(bool listening, const ProxyConfig &config)
{
    const bool remote = listening && !config.listensOnLoopbackOnly();
    m_remoteWarning->setText(tr("Listening on %1: reachable from other machines").arg(config.listenText()));
    m_remoteWarning->setVisible(remote);
    if (!listening) {
        m_listening->setText(tr("Stopped"));
        return;
    }
    const QString to = config.mode == ProxyConfig::Mode::HttpProxy ? tr("HTTP proxy") : config.targetText();
    m_listening->setText(tr("Listening on %1 → %2").arg(config.listenText(), to));
}

void ProxyStatusBar::refresh()
{
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (m_lastRateMs && now - m_lastRateMs >= 1000) {
        const double seconds = double(now - m_lastRateMs) / 1000.0;
        m_rateUp = double(m_bytesUp - m_lastBytesUp) / seconds;
        m_rateDown = double(m_bytesDown - m_lastBytesDown) / seconds;
    }
    if (!m_lastRateMs || now - m_lastRateMs >= 1000) {
        m_lastRateMs = now;
        m_lastBytesUp = m_bytesUp;
        m_lastBytesDown = m_bytesDown;
    }
    m_connections->setText(tr("%1 live · %2 total").arg(m_server->liveConnections()).arg(m_server->acceptedConnections()));
    m_traffic->setText(tr("↑ %1 (%2)  ↓ %3 (%4)")
                           .arg(DisplayText::bytes(m_bytesUp), DisplayText::rate(m_rateUp),
                                DisplayText::bytes(m_bytesDown), DisplayText::rate(m_rateDown)));
    const CaptureStore::Stats &stats = m_store->stats();
    QString capture = tr("Capture %1 of %2 · %3 exchanges")
                          .arg(DisplayText::bytes(quint64(stats.bytes)),
                               DisplayText::bytes(quint64(m_store->limits().maxBytes)))
                          .arg(m_store->exchangeCount());
    if (stats.evictedConnections || stats.evictedExchanges)
        capture += tr(" · evicted %1 connections, %2 exchanges").arg(stats.evictedConnections).arg(stats.evictedExchanges);
    m_capture->setText(capture);
}
