#pragma once

#include "connectionrecord.h"

#include <QList>
#include <QPointF>
#include <QWidget>

// A connection's life on a time axis, one lane per leg (client, upstream):
// each mark the worker timed as a glyph where it happened, the span each
// side sent data as a bar, stalls (a side not taking bytes, the other's
// reads paused) as shaded bands, and a FIN or reset passed on as a line
// from the lane that sent it to the lane it was passed to. Hovering names
// the marks under the pointer with their exact times.
class LifecycleStrip : public QWidget
{
    Q_OBJECT
public:
    struct ShownMark
    {
        TimelineMark mark;
        QPointF at; // the glyph's centre
    };

    explicit LifecycleStrip(QWidget *parent = nullptr);

    // nowUs: the connection's time now (live) or at its end.
    void setRecord(const ConnectionRecord &record, qint64 nowUs);
    void clear();

    // What is drawn where, in time order; what the tests read.
    const QList<ShownMark> &shownMarks() const { return m_shown; }
    // The names and times of the marks within a few pixels of pos.
    QString toolTipAt(const QPoint &pos) const;
    qreal xOf(qint64 us) const;
    qreal laneY(TimelineMark::Lane lane) const;

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;
    bool event(QEvent *event) override;

private:
    void layoutMarks();
    void drawGlyph(class QPainter &painter, const ShownMark &shown) const;

    ConnectionRecord m_record;
    qint64 m_endUs = 0;
    bool m_empty = true;
    QList<ShownMark> m_shown;
};
