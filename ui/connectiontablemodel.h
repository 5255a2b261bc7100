#pragma once

#include "capturestore.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QTimer>

// The connections of a CaptureStore as table rows, live while they are open.
// Display text for people, Qt::UserRole for the real values that sorting
// uses (bytes as numbers, times as milliseconds).
class ConnectionTableModel : public QAbstractTableModel, private CaptureStore::Listener
{
    Q_OBJECT
public:
    enum Column { Id, Started, Client, Upstream, State, Duration, BytesUp, BytesDown, Rate, Requests, Tls, ColumnCount };
    static constexpr int SortRole = Qt::UserRole;
    static constexpr int IdRole = Qt::UserRole + 1;

    explicit ConnectionTableModel(CaptureStore *store, QObject *parent = nullptr);
    ~ConnectionTableModel() override;

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // Bytes per second both ways over the last update, 0 once idle.
    double rateOf(quint64 id) const;
    // Words for how a connection stands or ended, as the State column shows.
    static QString stateText(const ConnectionRecord &record);
    // Words for whether and how its TLS was read, as the TLS column shows.
    static QString tlsText(const ConnectionRecord &record);

private:
    struct RateSample
    {
        quint64 bytes = 0;
        qint64 atMs = 0;
        double rate = 0;
    };

    void connectionsAboutToBeInserted(qsizetype first, qsizetype last) override;
    void connectionsInserted() override;
    void connectionsAboutToBeRemoved(qsizetype first, qsizetype last) override;
    void connectionsRemoved() override;
    void connectionsChanged(qsizetype first, qsizetype last) override;
    void aboutToBeCleared() override;
    void cleared() override;
    void sample(const ConnectionRecord &record, qint64 nowMs);
    void tick();

    CaptureStore *m_store;
    QHash<quint64, RateSample> m_rates; // live connections only
    QTimer m_clock;                     // durations and rates of live rows move on
};
