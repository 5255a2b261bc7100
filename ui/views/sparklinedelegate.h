#pragma once

#include <QStyledItemDelegate>

// Draws a row's last minute of traffic (ConnectionTableModel::ActivityRole)
// in its cell: down (from the upstream) as a filled area, up as a line, on
// the row's own scale. Painting reads only the visible rows' values.
class SparklineDelegate : public QStyledItemDelegate
{
    Q_OBJECT
public:
    using QStyledItemDelegate::QStyledItemDelegate;

    void paint(QPainter *painter, const QStyleOptionViewItem &option, const QModelIndex &index) const override;
    QSize sizeHint(const QStyleOptionViewItem &option, const QModelIndex &index) const override;
};
