#pragma once

#include "captureselection.h"
#include "capturestore.h"
#include "proxyconfig.h"

#include <QHash>
#include <QMainWindow>
#include <QStatusBar>
#include <QTimer>

class BatchIntake;
class CaptureActions;
class CaptureFiles;
class CaptureViews;
class ConditionsPanel;
class ConnectionFilterModel;
class ConnectionTableModel;
class ExchangeDetailView;
class ExchangeFilterModel;
class ExchangeTableModel;
class FilterEdit;
class PassthroughBar;
class ProxyControls;
class ProxyServer;
class ProxySession;
class ProxyStatusBar;
class QAction;
class QLabel;
class QLineEdit;
class QDockWidget;
class QSplitter;
class RawClientPanel;
class Resender;
class QTableView;
class WindowActions;

// The monitor window: start and stop the proxy, watch its connections and
// HTTP exchanges live, filter them, and read any exchange in detail. The
// engine runs on its own workers; the window hears from it in 50 ms batches
// and never waits on the network.
class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    // engine: the options the window does not show (timeouts, limits),
    // normally from the command line; its listen and target fields are
    // used when the caller sets them, otherwise the last ones used.
    explicit MainWindow(const ProxyConfig &engine, QWidget *parent = nullptr);
    ~MainWindow() override;

    void setListenText(const QString &text);
    void setTargetText(const QString &text);
    bool isListening() const;
    ProxyServer *server() const { return m_server; }
    CaptureStore *store() { return &m_store; }
    CaptureActions *actions() const { return m_actions; }
    // Exports, sessions and opened files.
    CaptureFiles *files() const { return m_files; }
    // The file the lists show, when they show one rather than a live capture.
    QString openedFile() const { return m_openedFile; }

public slots:
    void startProxy();
    void stopProxy();
    void toggleProxy();
    void clearCapture();
    // Saves what the lists show (the filter applies) as JSONL; false with
    // the reason in the banner when the file cannot be written.
    bool exportTo(const QString &path);
    // Both TLS legs' secrets go to path (NSS key log format) from the next
    // start on; empty: none. Proxy → Write TLS key log… asks for the file.
    void setKeyLogFile(const QString &path);

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void buildActions();
    void buildToolBar();
    void buildViews();
    void buildMenus();
    void restoreSettings();
    void saveSettings() const;

    void onInputsEdited();
    // A batch (or a slice of one) from the intake.
    void takeBatch(const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges);
    void onListeningChanged(bool listening);
    void showBanner(const QString &text, bool error);
    // What a part of the window reports: a problem in the banner, news in
    // the status bar for a while.
    void showProblem(const QString &text) { showBanner(text, true); }
    void showMessage(const QString &text) { statusBar()->showMessage(text, 8000); }
    void showConnectionMenu(const QPoint &at);
    void setShownFile(const QString &path);

    ProxyServer *m_server;
    CaptureStore m_store;
    ConnectionTableModel *m_connectionModel;
    ConnectionFilterModel *m_connectionFilter;
    ExchangeTableModel *m_exchangeModel;
    ExchangeFilterModel *m_exchangeFilter;

    WindowActions *m_act = nullptr;
    ProxySession *m_session = nullptr;
    CaptureActions *m_actions = nullptr;
    PassthroughBar *m_passthroughBar = nullptr;
    ProxyControls *m_controls = nullptr;
    FilterEdit *m_filterEdit = nullptr;
    QLabel *m_banner = nullptr;
    RawClientPanel *m_rawClient = nullptr;
    QDockWidget *m_rawClientDock = nullptr;
    ConditionsPanel *m_conditions = nullptr;
    QDockWidget *m_conditionsDock = nullptr;
    CaptureViews *m_views = nullptr;
    ProxyStatusBar *m_status = nullptr;

    QString m_openedFile;
    CaptureFiles *m_files = nullptr;
    BatchIntake *m_intake = nullptr;
    Resender *m_resender = nullptr;
};
