#pragma once

#include "connectionrecord.h"
#include "faultaction.h"

#include <QList>
#include <QObject>

#include <functional>

class ProxyServer;
class QAction;
class QMenu;
class QWidget;

// What a live connection's row menu offers to break it on purpose: reset
// it now (the client, the upstream or both), half-close it toward a side,
// stall or resume a direction, throttle it. Each acts on the selected live
// connections through the server, which marks it on their timelines.
class ConnectionFaultMenu : public QObject
{
    Q_OBJECT
public:
    using Selection = std::function<QList<ConnectionRecord>()>;
    ConnectionFaultMenu(ProxyServer *server, Selection selected, QWidget *window);

    // Adds the items (Reset now ▸, Half-close ▸, Stall ▸, Resume ▸,
    // Throttle…) to menu, enabled when a selected connection is live.
    void addTo(QMenu *menu);
    // The item by object name ("resetClient", "stallUp"...), for tests.
    QAction *action(const char *name) const;

signals:
    void message(const QString &text);

private:
    QAction *make(QMenu *menu, const char *name, const QString &text, const FaultAction &action);
    void act(const FaultAction &action);
    void askThrottle();

    ProxyServer *m_server;
    Selection m_selected;
    QWidget *m_window;
    QList<QMenu *> m_menus;
    QList<QAction *> m_actions;
};
