#pragma once

#include "timebreakdown.h"

#include <QStyledItemDelegate>

class CaptureStore;
class QAbstractItemModel;

// The waterfall: in the connections list's Waterfall column, one bar per
// connection on a time axis shared by every row the list shows (so it
// follows the filter; selection and sorting are the list's own), from the
// first shown connection's start to the last one's end, or now while any
// is live. The bar's phases come from the connection's timeline: lookup,
// connect, TLS, the wait for the upstream's first byte, receiving, stalls.
// Only visible rows are painted.
class WaterfallDelegate : public QStyledItemDelegate
{
    Q_OBJECT
public:
    // rows: the model the list shows (the filter's); the axis is taken
    // over its rows.
    WaterfallDelegate(const CaptureStore *store, QAbstractItemModel *rows, QObject *parent = nullptr);

    struct Axis
    {
        qint64 firstMs = 0; // wall clock
        qint64 lastMs = 0;
    };
    Axis axis() const;
    // Where a row's bar (its whole life) is drawn inside cell.
    QRectF barRect(const QModelIndex &index, const QRect &cell) const;
    static QColor colourOf(TimeBreakdown::Phase phase);

    void paint(QPainter *painter, const QStyleOptionViewItem &option, const QModelIndex &index) const override;
    bool helpEvent(QHelpEvent *event, QAbstractItemView *view, const QStyleOptionViewItem &option,
                   const QModelIndex &index) override;

private:
    const ConnectionRecord *recordOf(const QModelIndex &index) const;
    qreal xOf(qint64 wallUs, const Axis &axis, const QRectF &area) const;
    QRectF barRect(const ConnectionRecord &record, const Axis &axis, const QRectF &area) const;

    const CaptureStore *m_store;
    QAbstractItemModel *m_rows;
    mutable Axis m_axis;
    mutable bool m_axisDirty = true;
    mutable bool m_anyLive = false;
};
