#pragma once

#include "capturefilter.h"
#include "capturestore.h"

#include <QSet>
#include <QSortFilterProxyModel>

// Sorts connections by real values and applies the filter field: a
// connection shows when its record matches, or when one of its exchanges
// does (so "status:500" lists the connections that served one).
class ConnectionFilterModel : public QSortFilterProxyModel, private CaptureStore::Listener
{
    Q_OBJECT
public:
    ConnectionFilterModel(CaptureStore *store, QObject *parent = nullptr);
    ~ConnectionFilterModel() override;

    void setFilter(const CaptureFilter &filter);

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;
    bool lessThan(const QModelIndex &left, const QModelIndex &right) const override;

private:
    void exchangesInserted() override;
    void exchangesAboutToBeRemoved(qsizetype first, qsizetype last) override;
    void cleared() override;
    void noteMatches(qsizetype first, qsizetype last);

    CaptureStore *m_store;
    CaptureFilter m_filter;
    QSet<quint64> m_withMatchingExchange;
    qsizetype m_exchangesSeen = 0; // rows of the store's exchanges already judged
};
