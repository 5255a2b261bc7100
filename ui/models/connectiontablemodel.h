#pragma once

#include "capturestore.h"

#include <QAbstractTableModel>
#include <QSet>
#include <QTimer>

// The connections of a CaptureStore as table rows, live while they are open.
// Display text for people, Qt::UserRole for the real values that sorting
// uses (bytes as numbers, times as milliseconds).
class ConnectionTableModel : public QAbstractTableModel, private CaptureStore::Listener
{
    Q_OBJECT
public:
    enum Column { Id, Started, Client, Upstream, State, Life, Duration, BytesUp, BytesDown, Rate, Activity, Requests, Tls, Waterfall, ColumnCount };
    static constexpr int SortRole = Qt::UserRole;
    static constexpr int IdRole = Qt::UserRole + 1;
    // Activity: the last minute's rates (a younger connection's whole
    // life), ActivityBins up then as many down (QList<float>, bytes/s), for
    // the sparkline.
    static constexpr int ActivityRole = Qt::UserRole + 2;
    static constexpr int ActivityBins = 60;
    static constexpr qint64 ActivitySpanUs = 60'000'000;

    explicit ConnectionTableModel(CaptureStore *store, QObject *parent = nullptr);
    ~ConnectionTableModel() override;

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // Bytes per second both ways over the last second (from the store's
    // rate history); 0 once closed.
    double rateOf(const ConnectionRecord &record) const;
    // The last minute's rates of a connection, as ActivityRole gives them.
    QList<float> activityOf(const ConnectionRecord &record) const;
    // Words for how a connection stands or ended, as the State column shows.
    static QString stateText(const ConnectionRecord &record);
    // Words for whether and how its TLS was read, as the TLS column shows.
    static QString tlsText(const ConnectionRecord &record);

signals:
    // Live rows' durations, rates, sparklines and the waterfall moved on
    // with the clock (once a second): views repaint.
    void clockMoved();

private:
    void connectionsAboutToBeInserted(qsizetype first, qsizetype last) override;
    void connectionsInserted() override;
    void connectionsAboutToBeRemoved(qsizetype first, qsizetype last) override;
    void connectionsRemoved() override;
    void connectionsChanged(qsizetype first, qsizetype last) override;
    void aboutToBeCleared() override;
    void cleared() override;
    void follow(const ConnectionRecord &record);
    void tick();

    CaptureStore *m_store;
    QSet<quint64> m_live;  // ids of live rows: their durations, rates and sparklines move on
    QTimer m_clock;
};
