#include "waterfalldelegate.h"

#include "capturestore.h"
#include "connectiontablemodel.h"
#include "lifesummary.h"

#include <QAbstractItemView>
#include <QAbstractProxyModel>
#include <QDateTime>
#include <QHelpEvent>
#include <QPainter>
#include <QToolTip>

WaterfallDelegate::WaterfallDelegate(const CaptureStore *store, QAbstractItemModel *rows, QObject *parent)
    : QStyledItemDelegate(parent)
    , m_store(store)
    , m_rows(rows)
{
    // The axis is taken again only when the rows shown or their records
    // change: once per batch, not once per painted row.
    const auto dirty = [this] { m_axisDirty = true; };
    connect(rows, &QAbstractItemModel::rowsInserted, this, dirty);
    connect(rows, &QAbstractItemModel::rowsRemoved, this, dirty);
    connect(rows, &QAbstractItemModel::modelReset, this, dirty);
    connect(rows, &QAbstractItemModel::layoutChanged, this, dirty);
    connect(rows, &QAbstractItemModel::dataChanged, this, dirty);
}

const ConnectionRecord *WaterfallDelegate::recordOf(const QModelIndex &index) const
{
    // The table's rows are the store's, through the filter: mapped, not
    // looked up by id (the axis takes every shown row after each batch).
    const auto *proxy = qobject_cast<const QAbstractProxyModel *>(index.model());
    const QModelIndex source = proxy ? proxy->mapToSource(index) : index;
    if (!source.isValid() || source.row() >= m_store->connectionCount())
        return nullptr;
    return &m_store->connectionAt(source.row());
}

WaterfallDelegate::Axis WaterfallDelegate::axis() const
{
    if (m_axisDirty) {
        m_axisDirty = false;
        m_anyLive = false;
        Axis axis{-1, 0};
        for (int row = 0; row < m_rows->rowCount(); ++row) {
            const ConnectionRecord *record = recordOf(m_rows->index(row, 0));
            if (!record)
                continue;
            axis.firstMs = axis.firstMs < 0 ? record->openedMs : qMin(axis.firstMs, record->openedMs);
            if (record->isClosed())
                axis.lastMs = qMax(axis.lastMs, record->openedMs + record->ageUs(0) / 1000);
            else
                m_anyLive = true;
        }
        m_axis = axis;
    }
    Axis axis = m_axis;
    if (m_anyLive)
        axis.lastMs = qMax(axis.lastMs, QDateTime::currentMSecsSinceEpoch());
    axis.lastMs = qMax(axis.lastMs, axis.firstMs + 1);
    return axis;
}

qreal WaterfallDelegate::xOf(qint64 wallUs, const Axis &axis, const QRectF &area) const
{
    const double span = double(axis.lastMs - axis.firstMs) * 1000;
    return area.left() + area.width() * qBound(0.0, double(wallUs - axis.firstMs * 1000) / span, 1.0);
}

QRectF WaterfallDelegate::barRect(const QModelIndex &index, const QRect &cell) const
{
    const ConnectionRecord *record = recordOf(index);
    return record ? barRect(*record, axis(), QRectF(cell).adjusted(3, 4, -3, -4)) : QRectF();
}

QRectF WaterfallDelegate::barRect(const ConnectionRecord &record, const Axis &axis, const QRectF &area) const
{
    const qint64 start = record.openedMs * 1000;
    const qint64 end = start + record.ageUs(QDateTime::currentMSecsSinceEpoch());
    const qreal left = xOf(start, axis, area);
    return QRectF(QPointF(left, area.top()), QPointF(qMax(xOf(end, axis, area), left + 1), area.bottom()));
}

QColor WaterfallDelegate::colourOf(TimeBreakdown::Phase phase)
{
    using Phase = TimeBreakdown::Phase;
    switch (phase) {
    case Phase::Lookup: return QColor(142, 68, 173);
    case Phase::Connect: return QColor(230, 126, 34);
    case Phase::Tls: return QColor(22, 160, 133);
    case Phase::Wait: return QColor(39, 174, 96);
    case Phase::Receive: return QColor(41, 128, 185);
    case Phase::Stall: return QColor(241, 196, 15);
    }
    return QColor();
}

void WaterfallDelegate::paint(QPainter *painter, const QStyleOptionViewItem &option, const QModelIndex &index) const
{
    QStyleOptionViewItem plain = option;
    initStyleOption(&plain, index);
    plain.text.clear();
    if (QStyle *style = option.widget ? option.widget->style() : nullptr)
        style->drawControl(QStyle::CE_ItemViewItem, &plain, painter, option.widget);
    const ConnectionRecord *record = recordOf(index);
    if (!record)
        return;
    const Axis shared = axis();
    const QRectF area = QRectF(option.rect).adjusted(3, 4, -3, -4);
    const QRectF bar = barRect(*record, shared, area);
    painter->save();
    // The whole life as a thin line; the phases over it.
    painter->fillRect(QRectF(bar.left(), bar.center().y() - 1, bar.width(), 2), option.palette.color(QPalette::Mid));
    const qint64 start = record->openedMs * 1000;
    const qint64 ageUs = record->ageUs(QDateTime::currentMSecsSinceEpoch());
    for (const TimeBreakdown::Span &span : TimeBreakdown::spans(*record, ageUs)) {
        const qreal left = xOf(start + span.fromUs, shared, area);
        const qreal right = qMax(xOf(start + span.toUs, shared, area), left + 1);
        const bool stall = span.phase == TimeBreakdown::Phase::Stall;
        const QRectF rect(QPointF(left, stall ? bar.top() : bar.top() + 2), QPointF(right, stall ? bar.top() + 3 : bar.bottom() - 2));
        painter->fillRect(rect, colourOf(span.phase));
    }
    if (!record->isClosed()) {
        // A live connection's bar ends in an open mark.
        painter->setPen(QPen(option.palette.color(QPalette::WindowText), 1));
        painter->drawLine(QPointF(bar.right(), bar.top()), QPointF(bar.right(), bar.bottom()));
    }
    painter->restore();
}

bool WaterfallDelegate::helpEvent(QHelpEvent *event, QAbstractItemView *view, const QStyleOptionViewItem &option,
                                  const QModelIndex &index)
{
    const ConnectionRecord *record = recordOf(index);
    if (!record || event->type() != QEvent::ToolTip)
        return QStyledItemDelegate::helpEvent(event, view, option, index);
    QStringList lines;
    lines.append(tr("Connection %1, %2 after the first shown, lasting %3")
                     .arg(record->id)
                     .arg(LifeSummary::duration((record->openedMs - axis().firstMs) * 1000),
                          LifeSummary::duration(record->ageUs(QDateTime::currentMSecsSinceEpoch()))));
    for (const TimeBreakdown::Span &span : TimeBreakdown::spans(*record, record->ageUs(QDateTime::currentMSecsSinceEpoch())))
        lines.append(tr("%1: %2 from %3").arg(TimeBreakdown::phaseName(span.phase), LifeSummary::duration(span.toUs - span.fromUs),
                                              LifeSummary::duration(span.fromUs)));
    QToolTip::showText(event->globalPos(), lines.join(QLatin1Char('\n')), view);
    return true;
}
