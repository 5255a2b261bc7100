#include "proxysession.h"

#include "proxycontrols.h"
#include "proxyserver.h"

#include <QMessageBox>

namespace {

// The engine's workers a step below the window's thread (see ProxyConfig):
// with 9,900 live connections on two busy cores the longest stall went
// from 27-60 ms to 30-49 ms over seven runs each; the window's own
// keep-alive throughput under that saturation gave about a tenth to the
// load generators beside it.
constexpr int EngineNiceness = 3;

} // namespace

ProxySession::ProxySession(ProxyServer *server, const ProxyConfig &engine, QWidget *window)
    : QObject(window)
    , m_server(server)
    , m_engine(engine)
    , m_window(window)
{
}

void ProxySession::setRules(const RuleSet &rules)
{
    m_engine.rules = rules;
    if (m_server->isListening())
        m_server->setRules(rules);
}

void ProxySession::setDecryption(bool on)
{
    m_engine.decrypt = on;
    m_server->setDecryption(on);
}

bool ProxySession::setKeyLogFile(const QString &path)
{
    // Off by default: the file decrypts everything it covers.
    m_engine.keyLogFile = path;
    return !path.isEmpty() && m_server->isListening();
}

ProxySession::Start ProxySession::start(const ProxyControls &controls, const QStringList &passthrough)
{
    ProxyConfig config = m_engine;
    controls.applyTo(&config);
    config.workerNiceness = EngineNiceness;
    for (const QString &host : passthrough) {
        if (!config.passthroughHosts.contains(host, Qt::CaseInsensitive))
            config.passthroughHosts.append(host);
    }
    if (!config.listensOnLoopbackOnly()) {
        const QString reach = config.mode == ProxyConfig::Mode::HttpProxy
            ? tr("use proxymon as their HTTP proxy")
            : tr("use proxymon to reach %1").arg(config.targetText());
        const QString who = config.allowedClients.isEmpty() ? tr("any machine that can connect")
                                                            : tr("only %1").arg(config.allowedClientsText());
        const auto answer = QMessageBox::warning(
            m_window, tr("Listen beyond this machine?"),
            tr("Listening on %1 lets other machines %2 (%3), and shows you their traffic. "
               "Listen there anyway?")
                .arg(config.listenText(), reach, who),
            QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel);
        if (answer != QMessageBox::Yes)
            return Start::Declined;
        config.allowNonLoopback = true;
    }
    if (!m_server->start(config)) {
        emit problem(tr("Could not start: %1").arg(m_server->errorString()));
        return Start::Failed;
    }
    return Start::Started;
}
