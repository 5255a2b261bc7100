#include "sparklinedelegate.h"

#include "connectiontablemodel.h"

#include <QPainter>

#include <algorithm>

void SparklineDelegate::paint(QPainter *painter, const QStyleOptionViewItem &option, const QModelIndex &index) const
{
    // The cell's background and selection as any other cell's, without text.
    QStyleOptionViewItem plain = option;
    initStyleOption(&plain, index);
    plain.text.clear();
    QStyle *style = option.widget ? option.widget->style() : nullptr;
    if (style)
        style->drawControl(QStyle::CE_ItemViewItem, &plain, painter, option.widget);

    const QList<float> values = index.data(ConnectionTableModel::ActivityRole).value<QList<float>>();
    const qsizetype bins = values.size() / 2;
    if (bins < 2)
        return;
    const float top = *std::max_element(values.cbegin(), values.cend());
    const QRectF area = QRectF(option.rect).adjusted(2, 3, -2, -3);
    painter->save();
    painter->setRenderHint(QPainter::Antialiasing);
    const QColor baseline = option.palette.color(QPalette::Mid);
    painter->setPen(QPen(baseline, 1));
    painter->drawLine(area.bottomLeft(), area.bottomRight());
    if (top > 0) {
        const qreal step = area.width() / qreal(bins - 1);
        const auto yOf = [&](float value) { return area.bottom() - area.height() * qreal(value) / qreal(top); };
        // A polygon and a hairline: a stroked path of a spiky series went
        // through the raster engine's slow stroker for every visible row.
        QPolygonF down;
        down.reserve(bins + 2);
        down.append(area.bottomLeft());
        QPolygonF up;
        up.reserve(bins);
        for (qsizetype i = 0; i < bins; ++i) {
            const qreal x = area.left() + step * qreal(i);
            down.append(QPointF(x, yOf(values[bins + i])));
            up.append(QPointF(x, yOf(values[i])));
        }
        down.append(area.bottomRight());
        painter->setPen(Qt::NoPen);
        painter->setBrush(QColor(41, 128, 185, 150));
        painter->drawPolygon(down);
        QPen upPen(QColor(230, 126, 34), 1);
        upPen.setCosmetic(true);
        painter->setPen(upPen);
        painter->setBrush(Qt::NoBrush);
        painter->drawPolyline(up);
    }
    painter->restore();
}

QSize SparklineDelegate::sizeHint(const QStyleOptionViewItem &option, const QModelIndex &index) const
{
    QSize size = QStyledItemDelegate::sizeHint(option, index);
    size.setWidth(qMax(size.width(), 100));
    return size;
}
