#pragma once

#include <QObject>

class CaptureActions;
class QAction;
class QDockWidget;
class QMainWindow;
class QMenuBar;
class QToolBar;

// The window's actions as its toolbar, menus and shortcuts share them:
// each made here with its name (tests and settings find it by that), its
// shortcut and its tooltip, and laid out in the menu bar. What an action
// does is the window's to connect; the dialogs that need nothing of the
// window (the CA's, About) open from here.
class WindowActions : public QObject
{
    Q_OBJECT
public:
    // decrypt: whether Decrypt HTTPS starts checked.
    WindowActions(QMainWindow *window, bool decrypt);

    // File, Proxy, Exchange (the capture's actions), View and Help; the
    // docks' toggles go into the menus and onto the proxy's toolbar.
    void fillMenuBar(QMenuBar *bar, CaptureActions *capture, QDockWidget *rawClient, QDockWidget *conditions,
                     QToolBar *proxyBar);
    // Start or Stop, as the server is; Start only when the controls are
    // valid (canStart).
    void showListening(bool listening, bool canStart);

    QAction *const startStop;
    QAction *const clear;
    QAction *const exportJsonl;
    QAction *const exportHar;
    QAction *const exportPcapng;
    QAction *const saveSession;
    QAction *const openSession;
    QAction *const pause;
    QAction *const decrypt;
    QAction *const allExchanges;
    QAction *const focusFilter;
    QAction *const keyLog;

private:
    QMainWindow *m_window;
};
