#pragma once

#include "capturefilter.h"
#include "capturestore.h"

#include <QSortFilterProxyModel>

// Sorts exchanges by real values and shows those of one connection (or of
// all) that match the filter field.
class ExchangeFilterModel : public QSortFilterProxyModel
{
    Q_OBJECT
public:
    ExchangeFilterModel(const CaptureStore *store, QObject *parent = nullptr);

    void setFilter(const CaptureFilter &filter);
    // 0 shows the exchanges of every connection.
    void setConnection(quint64 id);
    quint64 connection() const { return m_connection; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;
    // Straight from the store: a sort of 100,000 rows through QVariants
    // takes several times as long.
    bool lessThan(const QModelIndex &left, const QModelIndex &right) const override;

private:
    const CaptureStore *m_store;
    CaptureFilter m_filter;
    quint64 m_connection = 0;
};
