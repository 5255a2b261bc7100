#pragma once

#include "connectionrecord.h"

#include <QObject>

#include <functional>

class CaptureStore;
class ConnectionFilterModel;
class ConnectionTableModel;
class ExchangeDetailView;
class ExchangeFilterModel;
class QSettings;
class QSplitter;
class QTableView;
class QWidget;

// The capture's three views: the connections over the exchanges and the
// detail pane, in their splitters. What the exchange list and the detail
// show follows the selection, the connection on screen moves on with its
// records, and new rows are followed while the user is at a list's bottom.
// Both tables ask for their context menus (customContextMenuRequested).
class CaptureViews : public QObject
{
    Q_OBJECT
public:
    // originOf: where a connection came from when it was a resend, for
    // the detail pane.
    CaptureViews(CaptureStore *store, ConnectionTableModel *connectionModel, ConnectionFilterModel *connections,
                 ExchangeFilterModel *exchanges, std::function<QString(quint64)> originOf, QWidget *parent);

    QSplitter *widget() const { return m_mainSplitter; }
    QTableView *connections() const { return m_connectionsView; }
    QTableView *exchanges() const { return m_exchangesView; }
    ExchangeDetailView *detail() const { return m_detail; }

    // Whether the exchanges of every connection are listed, or only the
    // selected one's.
    void setAllExchanges(bool all);
    // The exchange list and the detail follow the current connection.
    void connectionSelected();
    void exchangeSelected();
    // Records that came: the connection whose life is on screen moves on.
    void followShown(const QList<ConnectionRecord> &records);
    // The capture was cleared: nothing is shown, and new rows are
    // followed again.
    void showNothing();
    void restore(const QSettings &settings);
    void save(QSettings *settings) const;

private:
    CaptureStore *m_store;
    ExchangeFilterModel *m_exchangeFilter;
    std::function<QString(quint64)> m_originOf;
    QTableView *m_connectionsView;
    QTableView *m_exchangesView;
    ExchangeDetailView *m_detail;
    QSplitter *m_bottomSplitter;
    QSplitter *m_mainSplitter;
    bool m_allExchanges = false;
    bool m_followConnections = true;
    bool m_followExchanges = true;
};
