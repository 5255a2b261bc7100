#pragma once

#include "captureselection.h"
#include "capturestore.h"
#include "curlcommand.h"

#include <QObject>
#include <QTimer>

class ConnectionFaultMenu;
class ExchangeFilterModel;
class ProxyServer;
class QAction;
class QMenu;
class QTableView;

// What the user can do with the rows they see: copy a URL, a curl command,
// a head or a body; save a body; send a request again, as it was or
// edited; export the selection; filter by its host or client; close a live
// connection. The same actions sit in the rows' context menus and in the
// Exchange menu with shortcuts, and act on the selected rows of the list
// the menu was opened on (or that has the focus): exchanges, or the
// exchanges of the selected connections.
class CaptureActions : public QObject
{
    Q_OBJECT
public:
    enum class Part { RequestBody, ResponseBody };

    CaptureActions(CaptureStore *store, ProxyServer *server, QTableView *connections, QTableView *exchanges,
                   ExchangeFilterModel *exchangeFilter, QWidget *window);

    // The Exchange menu of the menu bar.
    void fillMenu(QMenu *menu);
    // The context menus; extra items (the TLS ones) go on top.
    void showConnectionMenu(const QPoint &at, const QList<QAction *> &extra);
    void showExchangeMenu(const QPoint &at);

    // The selection the actions act on now.
    QList<HttpExchange> selectedExchanges() const;
    QList<ConnectionRecord> selectedConnections() const;
    CaptureSelection selection() const;

    // A body as saved: decoded (Content-Encoding undone) unless raw. Writes
    // what the capture kept; false with *error when the file cannot be
    // written. *note says when the body was kept only in part.
    static bool saveBody(const HttpExchange &exchange, Part part, bool raw, const QString &path, QString *error,
                         QString *note);

    QAction *action(const char *name) const;
    // The live connections' row menu items to break them on purpose.
    ConnectionFaultMenu *faultMenu() const { return m_faults; }

signals:
    // The filter field should read this ("host:example.com").
    void filterRequested(const QString &text);
    // Export the selection; the window asks where.
    void exportRequested(const CaptureSelection &selection, const QString &format);
    // Send this request again (edit: through the composer first).
    void resendRequested(const HttpExchange &exchange, bool edit);
    void message(const QString &text);

private:
    enum class Scope { Connections, Exchanges };
    QAction *make(const char *name, const QString &text, const QKeySequence &shortcut, void (CaptureActions::*slot)());
    void updateEnabled();
    Scope focusedScope() const;
    void copy(const QString &text, const QString &what);

    void copyUrl();
    void copyCurl();
    void copyCurlConvenient();
    void copyCommands(CurlCommand::Style style);
    void copyRequestHead();
    void copyResponseHead();
    void copyHeads(bool responses);
    void copyResponseBody();
    void resend();
    void editAndResend();
    void filterByHost();
    void filterByClient();
    void closeConnections();
    void askSaveBody(Part part, bool raw);

    CaptureStore *m_store;
    ProxyServer *m_server;
    QTableView *m_connections;
    QTableView *m_exchanges;
    ExchangeFilterModel *m_exchangeFilter;
    QWidget *m_window;
    Scope m_scope = Scope::Exchanges;
    bool m_menuOpen = false; // a context menu fixed the scope
    QList<QAction *> m_actions;
    QTimer m_refresh; // rows change state (a connection closes) without the selection changing
    QMenu *m_saveMenu = nullptr;
    QMenu *m_exportMenu = nullptr;
    ConnectionFaultMenu *m_faults = nullptr;
};
