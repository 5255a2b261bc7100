#pragma once

#include "proxyconfig.h"

#include <QObject>
#include <QStringList>

class ProxyControls;
class ProxyServer;
class QWidget;

// The proxy as the window runs it: the engine's options the window does not
// show (timeouts, limits) with those it changes as it runs (rules,
// decryption, the key log), and a start from what the controls say, with
// the engine's workers a step below the window's thread and a question
// first when it would listen beyond this machine.
class ProxySession : public QObject
{
    Q_OBJECT
public:
    enum class Start { Started, Declined, Failed };

    // window: the question's parent.
    ProxySession(ProxyServer *server, const ProxyConfig &engine, QWidget *window);

    const ProxyConfig &engine() const { return m_engine; }
    // Rules in force from now on (at once while it runs).
    void setRules(const RuleSet &rules);
    void setDecryption(bool on);
    // Both TLS legs' secrets go to path from the next start on (empty:
    // none). True when that start is still to come while it runs.
    bool setKeyLogFile(const QString &path);
    // Starts with the controls' settings, hosts not to decrypt added;
    // Failed says why (problem()), Declined is the user's answer.
    Start start(const ProxyControls &controls, const QStringList &passthrough);

signals:
    void problem(const QString &text);

private:
    ProxyServer *m_server;
    ProxyConfig m_engine;
    QWidget *m_window;
};
