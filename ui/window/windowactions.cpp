#include "windowactions.h"

#include "captureactions.h"
#include "catrustdialog.h"

#include <QAction>
#include <QApplication>
#include <QDockWidget>
#include <QMainWindow>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QStyle>
#include <QToolBar>

namespace {

QAction *named(QAction *action, const char *name)
{
    action->setObjectName(QLatin1String(name));
    return action;
}

} // namespace

WindowActions::WindowActions(QMainWindow *window, bool decryptOn)
    : QObject(window)
    , startStop(named(new QAction(window), "startStop"))
    , clear(named(new QAction(window->style()->standardIcon(QStyle::SP_DialogResetButton), tr("Clear"), window), "clear"))
    , exportJsonl(named(new QAction(tr("Export as JSON Lines…"), window), "export"))
    , exportHar(named(new QAction(tr("Export as HAR…"), window), "exportHar"))
    , exportPcapng(named(new QAction(tr("Export as pcapng…"), window), "exportPcapng"))
    , saveSession(named(new QAction(window->style()->standardIcon(QStyle::SP_DialogSaveButton), tr("Save session…"), window),
                        "saveSession"))
    , openSession(named(new QAction(window->style()->standardIcon(QStyle::SP_DialogOpenButton), tr("Open…"), window),
                        "openSession"))
    , pause(named(new QAction(window->style()->standardIcon(QStyle::SP_MediaPause), tr("Pause capture"), window),
                  "pauseCapture"))
    , decrypt(named(new QAction(window->style()->standardIcon(QStyle::SP_DialogYesButton), tr("Decrypt HTTPS"), window),
                    "decryptAction"))
    , allExchanges(named(new QAction(tr("Exchanges of all connections"), window), "allExchanges"))
    , focusFilter(new QAction(tr("Filter…"), window))
    , keyLog(named(new QAction(tr("Write TLS &key log…"), window), "keyLogAction"))
    , m_window(window)
{
    startStop->setShortcut(Qt::Key_F5);
    clear->setShortcut(Qt::CTRL | Qt::Key_L);
    clear->setToolTip(tr("Forget the captured connections and exchanges (Ctrl+L)"));
    exportJsonl->setShortcut(Qt::CTRL | Qt::SHIFT | Qt::Key_E);
    exportJsonl->setToolTip(tr("Save the connections and exchanges the lists show as JSON Lines, "
                               "the format of the headless --jsonl stream (Ctrl+Shift+E)"));
    exportHar->setToolTip(tr("Save the HTTP exchanges the lists show as HAR 1.2, for browser devtools and HAR viewers"));
    exportPcapng->setToolTip(tr("Save the connections the lists show as pcapng for Wireshark: both legs of each, "
                                "their bytes in TCP that proxymon synthesizes"));
    saveSession->setShortcut(QKeySequence::Save);
    saveSession->setToolTip(tr("Save the whole capture, bodies and all, to open again later (Ctrl+S)"));
    openSession->setShortcut(QKeySequence::Open);
    openSession->setToolTip(tr("Show a saved session, a headless JSONL stream or a HAR file (Ctrl+O)"));
    pause->setCheckable(true);
    pause->setShortcut(Qt::Key_F12);
    pause->setToolTip(tr("Stop recording new connections and exchanges; forwarding goes on (F12)"));
    decrypt->setCheckable(true);
    decrypt->setChecked(decryptOn);
    decrypt->setToolTip(tr("Read inside the TLS of clients that trust proxymon's CA (Proxy → Trust proxymon's CA…); "
                           "off: relay TLS unread"));
    allExchanges->setCheckable(true);
    allExchanges->setToolTip(tr("List the exchanges of every connection, not just the selected one"));
    focusFilter->setShortcut(QKeySequence::Find);
    window->addAction(focusFilter);
    keyLog->setCheckable(true);
    keyLog->setToolTip(tr("Append the secrets of both TLS legs to a file Wireshark reads (NSS key log format); "
                          "anyone who reads it can decrypt the traffic"));
}

void WindowActions::fillMenuBar(QMenuBar *bar, CaptureActions *capture, QDockWidget *rawClient, QDockWidget *conditions,
                                QToolBar *proxyBar)
{
    QMenu *file = bar->addMenu(tr("&File"));
    file->addAction(openSession);
    file->addAction(saveSession);
    file->addSeparator();
    file->addAction(exportHar);
    file->addAction(exportPcapng);
    file->addAction(exportJsonl);
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), m_window, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu *proxy = bar->addMenu(tr("&Proxy"));
    proxy->addAction(startStop);
    proxy->addAction(clear);
    proxy->addSeparator();
    QAction *trust = proxy->addAction(tr("&Trust proxymon's CA…"), m_window, [this] {
        auto *dialog = new CaTrustDialog(m_window);
        dialog->setAttribute(Qt::WA_DeleteOnClose);
        dialog->open();
    });
    trust->setObjectName(QStringLiteral("trustCa"));
    trust->setToolTip(tr("Where proxymon's certificate authority is, and how to make clients trust it"));
    proxy->addAction(decrypt);
    proxy->addAction(keyLog);

    capture->fillMenu(bar->addMenu(tr("&Exchange")));

    QMenu *view = bar->addMenu(tr("&View"));
    view->addAction(pause);
    view->addAction(allExchanges);
    view->addAction(focusFilter);
    QAction *showRawClient = rawClient->toggleViewAction();
    showRawClient->setObjectName(QStringLiteral("showRawClient"));
    showRawClient->setShortcut(Qt::CTRL | Qt::Key_T);
    showRawClient->setToolTip(tr("A client you drive by hand: send, shut down writing, reset (Ctrl+T)"));
    view->addAction(showRawClient);
    proxyBar->insertAction(clear, showRawClient);
    QAction *showConditions = conditions->toggleViewAction();
    showConditions->setObjectName(QStringLiteral("showConditions"));
    showConditions->setText(tr("&Conditions and faults"));
    showConditions->setToolTip(tr("Slow the network down (a browser's preset, latency, bandwidth) or break "
                                  "connections on purpose (resets, stalls, limits)"));
    proxy->addSeparator();
    proxy->addAction(showConditions);
    proxyBar->insertAction(clear, showConditions);

    QMenu *help = bar->addMenu(tr("&Help"));
    help->addAction(tr("&About proxymon"), m_window, [this] {
        QMessageBox::about(m_window, tr("About proxymon"),
                           tr("<h3>proxymon %1</h3>"
                              "<p>A TCP proxy monitor: it forwards every byte between your client and "
                              "its server, exactly, and shows each connection and HTTP exchange as it "
                              "happens.</p><p>Built with Qt %2.</p>")
                               .arg(QStringLiteral(PROXYMON_VERSION), QStringLiteral(QT_VERSION_STR)));
    });
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

void WindowActions::showListening(bool listening, bool canStart)
{
    startStop->setText(listening ? tr("Stop") : tr("Start"));
    startStop->setIcon(m_window->style()->standardIcon(listening ? QStyle::SP_MediaStop : QStyle::SP_MediaPlay));
    startStop->setToolTip(listening ? tr("Stop listening; live connections end after a short grace (F5)")
                                    : tr("Listen and forward to the target (F5)"));
    startStop->setEnabled(listening || canStart);
}
