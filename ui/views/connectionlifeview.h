#pragma once

#include "connectionrecord.h"
#include "ratehistory.h"

#include <QTimer>
#include <QWidget>

class LifecycleStrip;
class QLabel;
class RateGraph;

// One connection's life, for any protocol: its lifecycle strip (both legs
// on a time axis), its rate each way over its whole life, and where its
// time went. Follows a live connection: each batch brings a new record,
// and the axis moves on with the clock between batches.
class ConnectionLifeView : public QWidget
{
    Q_OBJECT
public:
    explicit ConnectionLifeView(QWidget *parent = nullptr);

    void showConnection(const ConnectionRecord &record, const RateHistory &history);
    void showNothing();
    quint64 shownId() const { return m_record.id; }

    LifecycleStrip *strip() const { return m_strip; }
    RateGraph *graph() const { return m_graph; }
    // The summary and the breakdown as plain text; what the tests read.
    QString text() const;
    // The breakdown's lines, as the view lists them.
    static QString breakdownText(const ConnectionRecord &record);

private:
    void refresh();

    LifecycleStrip *m_strip;
    RateGraph *m_graph;
    QLabel *m_summary;
    QLabel *m_breakdown;
    ConnectionRecord m_record;
    RateHistory m_history;
    QTimer m_clock; // a live connection's axis moves on between batches
};
