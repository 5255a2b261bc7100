#pragma once

#include "capturestore.h"
#include "proxyconfig.h"

#include <QHash>
#include <QMainWindow>
#include <QTimer>

class ConnectionFilterModel;
class ConnectionTableModel;
class ExchangeDetailView;
class ExchangeFilterModel;
class ExchangeTableModel;
class ProxyServer;
class QAction;
class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QDockWidget;
class QSplitter;
class RawClientPanel;
class QTableView;

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

public slots:
    void startProxy();
    void stopProxy();
    void toggleProxy();
    void clearCapture();
    // Saves what the lists show (the filter applies) as JSONL; false with
    // the reason in the banner when the file cannot be written.
    bool exportTo(const QString &path);

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void buildActions();
    void buildToolBar();
    void buildViews();
    void buildStatusBar();
    void buildMenus();
    void restoreSettings();
    void saveSettings() const;

    void validateInputs();
    void applyFilter();
    void onPublished(const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges);
    void onListeningChanged(bool listening);
    void onConnectionSelected();
    void onExchangeSelected();
    void updateStatus();
    void showBanner(const QString &text, bool error);
    void rememberTarget(const QString &target);
    void installColumnMenu(QTableView *view);
    void followNewRows(QTableView *view, bool *follow);

    ProxyConfig m_engine;
    ProxyServer *m_server;
    CaptureStore m_store;
    ConnectionTableModel *m_connectionModel;
    ConnectionFilterModel *m_connectionFilter;
    ExchangeTableModel *m_exchangeModel;
    ExchangeFilterModel *m_exchangeFilter;

    QAction *m_startStop = nullptr;
    QAction *m_clear = nullptr;
    QAction *m_export = nullptr;
    QAction *m_pause = nullptr;
    QAction *m_allExchanges = nullptr;
    QAction *m_focusFilter = nullptr;
    QLineEdit *m_listenEdit = nullptr;
    QComboBox *m_modeCombo = nullptr;
    QComboBox *m_targetCombo = nullptr;
    QAction *m_targetAction = nullptr;      // the target's label and box in the toolbar
    QAction *m_targetLabelAction = nullptr;
    QLineEdit *m_allowEdit = nullptr;
    QAction *m_allowAction = nullptr;
    QAction *m_allowLabelAction = nullptr;
    QLineEdit *m_filterEdit = nullptr;
    QLabel *m_inputProblem = nullptr;
    QLabel *m_banner = nullptr;
    QTableView *m_connectionsView = nullptr;
    QTableView *m_exchangesView = nullptr;
    ExchangeDetailView *m_detail = nullptr;
    RawClientPanel *m_rawClient = nullptr;
    QDockWidget *m_rawClientDock = nullptr;
    QSplitter *m_mainSplitter = nullptr;
    QSplitter *m_bottomSplitter = nullptr;
    QLabel *m_statusListening = nullptr;
    QLabel *m_statusConnections = nullptr;
    QLabel *m_statusTraffic = nullptr;
    QLabel *m_statusCapture = nullptr;
    QLabel *m_remoteWarning = nullptr;
    QLabel *m_pausedLabel = nullptr;

    QTimer m_filterDelay;
    QTimer m_statusTimer;
    bool m_followConnections = true;
    bool m_followExchanges = true;
    bool m_inputsValid = false;

    ProxyConfig::Mode selectedMode() const;

    // Traffic totals over every connection, captured or not.
    QHash<quint64, std::pair<quint64, quint64>> m_liveBytes;
    quint64 m_bytesUp = 0;
    quint64 m_bytesDown = 0;
    quint64 m_lastBytesUp = 0;
    quint64 m_lastBytesDown = 0;
    qint64 m_lastRateMs = 0;
    double m_rateUp = 0;
    double m_rateDown = 0;
};
