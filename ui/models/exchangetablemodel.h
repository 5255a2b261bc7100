#pragma once

#include "capturestore.h"

#include <QAbstractTableModel>

// The HTTP exchanges of a CaptureStore as table rows, in the order they
// completed. Flagged exchanges (malformed, truncated, smuggling risk) carry
// a mark and a tooltip that says what was wrong.
class ExchangeTableModel : public QAbstractTableModel, private CaptureStore::Listener
{
    Q_OBJECT
public:
    enum Column { Connection, Method, Host, Target, Status, RequestSize, ResponseSize, Time, Flags, ColumnCount };
    static constexpr int SortRole = Qt::UserRole;
    static constexpr int ConnectionIdRole = Qt::UserRole + 1;

    explicit ExchangeTableModel(CaptureStore *store, QObject *parent = nullptr);
    ~ExchangeTableModel() override;

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // "malformed line, truncated" for the flags that are set.
    static QString flagText(quint32 flags);
    // Request start to response end (or to what happened last), in ms.
    static qint64 elapsedMs(const HttpExchange &exchange);

private:
    void exchangesAboutToBeInserted(qsizetype first, qsizetype last) override;
    void exchangesInserted() override;
    void exchangesAboutToBeRemoved(qsizetype first, qsizetype last) override;
    void exchangesRemoved() override;
    void aboutToBeCleared() override;
    void cleared() override;

    CaptureStore *m_store;
};
