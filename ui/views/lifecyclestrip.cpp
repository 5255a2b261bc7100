#include "lifecyclestrip.h"

#include "lifesummary.h"
#include "timebreakdown.h"

#include <QHelpEvent>
#include <QPainter>
#include <QPainterPath>
#include <QToolTip>

using Kind = TimelineMark::Kind;
using Lane = TimelineMark::Lane;

namespace {

constexpr int LabelWidth = 70;
constexpr int RightMargin = 36;
constexpr int TopMargin = 6;
constexpr int LaneHeight = 28;
constexpr int AxisHeight = 20;
constexpr int HoverPixels = 5;

const QColor UpColour(230, 126, 34);   // bytes from the client
const QColor DownColour(41, 128, 185); // bytes from the upstream
const QColor FinColour(52, 73, 94);
const QColor ResetColour(192, 57, 43);
const QColor StallColour(241, 196, 15, 110);
const QColor GoodColour(39, 174, 96);

QString timeText(qint64 us)
{
    return QStringLiteral("%1 ms").arg(double(us) / 1000, 0, 'f', 3);
}

// A round step for the axis's ticks: 1, 2 or 5 times a power of ten µs.
qint64 tickStep(qint64 spanUs, int maxTicks)
{
    for (qint64 magnitude = 1;; magnitude *= 10) {
        for (const int factor : {1, 2, 5}) {
            if (spanUs / (magnitude * factor) <= maxTicks)
                return magnitude * factor;
        }
    }
}

} // namespace

LifecycleStrip::LifecycleStrip(QWidget *parent)
    : QWidget(parent)
{
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
}

QSize LifecycleStrip::sizeHint() const
{
    return {600, minimumSizeHint().height()};
}

QSize LifecycleStrip::minimumSizeHint() const
{
    return {LabelWidth + 120, TopMargin + 2 * LaneHeight + AxisHeight};
}

void LifecycleStrip::setRecord(const ConnectionRecord &record, qint64 nowUs)
{
    m_record = record;
    m_empty = false;
    // The axis runs to the end (or now), and past every mark.
    m_endUs = qMax<qint64>(nowUs, record.timeline.sampledUs);
    if (!record.timeline.marks.isEmpty())
        m_endUs = qMax(m_endUs, record.timeline.marks.constLast().atUs);
    m_endUs = qMax<qint64>(m_endUs, 1000);
    layoutMarks();
    update();
}

void LifecycleStrip::clear()
{
    m_record = ConnectionRecord();
    m_empty = true;
    m_shown.clear();
    update();
}

qreal LifecycleStrip::xOf(qint64 us) const
{
    const qreal span = qMax(1, width() - LabelWidth - RightMargin);
    return LabelWidth + span * qreal(qBound<qint64>(0, us, m_endUs)) / qreal(m_endUs);
}

qreal LifecycleStrip::laneY(Lane lane) const
{
    const int index = lane == Lane::Upstream ? 1 : 0;
    return TopMargin + LaneHeight * index + LaneHeight / 2.0;
}

void LifecycleStrip::layoutMarks()
{
    m_shown.clear();
    for (const TimelineMark &mark : m_record.timeline.marks) {
        // Connection-wide marks sit between the lanes.
        const qreal y = mark.lane == Lane::Connection ? (laneY(Lane::Client) + laneY(Lane::Upstream)) / 2 : laneY(mark.lane);
        m_shown.append({mark, QPointF(xOf(mark.atUs), y)});
    }
}

void LifecycleStrip::resizeEvent(QResizeEvent *event)
{
    QWidget::resizeEvent(event);
    layoutMarks();
}

QString LifecycleStrip::toolTipAt(const QPoint &pos) const
{
    QStringList lines;
    for (const ShownMark &shown : m_shown) {
        if (qAbs(shown.at.x() - pos.x()) <= HoverPixels && qAbs(shown.at.y() - pos.y()) <= LaneHeight / 2)
            lines.append(QStringLiteral("%1 at %2").arg(shown.mark.describe(), timeText(shown.mark.atUs)));
    }
    if (lines.isEmpty() && pos.x() >= LabelWidth && !m_empty) {
        // Between marks: where on the axis the pointer is.
        const qreal span = qMax(1, width() - LabelWidth - RightMargin);
        const qint64 at = qint64((pos.x() - LabelWidth) / span * qreal(m_endUs));
        if (at <= m_endUs)
            lines.append(timeText(at));
    }
    return lines.join(QLatin1Char('\n'));
}

bool LifecycleStrip::event(QEvent *event)
{
    if (event->type() == QEvent::ToolTip) {
        auto *help = static_cast<QHelpEvent *>(event);
        const QString text = toolTipAt(help->pos());
        if (text.isEmpty())
            QToolTip::hideText();
        else
            QToolTip::showText(help->globalPos(), text, this);
        return true;
    }
    return QWidget::event(event);
}

void LifecycleStrip::drawGlyph(QPainter &painter, const ShownMark &shown) const
{
    const QPointF c = shown.at;
    const qreal r = 4.5;
    const QColor laneColour = shown.mark.lane == Lane::Upstream ? DownColour : UpColour;
    painter.setPen(QPen(palette().color(QPalette::WindowText), 1));
    switch (shown.mark.kind) {
    case Kind::Accepted:
    case Kind::Connected:
        painter.setBrush(GoodColour);
        painter.drawEllipse(c, r, r);
        break;
    case Kind::Connecting:
        painter.setBrush(Qt::NoBrush);
        painter.drawEllipse(c, r, r);
        break;
    case Kind::Reused:
        // Connected, with a ring: no connect happened.
        painter.setBrush(GoodColour);
        painter.drawEllipse(c, r, r);
        painter.setBrush(Qt::NoBrush);
        painter.drawEllipse(c, r - 2, r - 2);
        break;
    case Kind::Resolved: {
        painter.setBrush(QColor(142, 68, 173));
        const QPolygonF diamond({c + QPointF(0, -r), c + QPointF(r, 0), c + QPointF(0, r), c + QPointF(-r, 0)});
        painter.drawPolygon(diamond);
        break;
    }
    case Kind::TlsDone:
        painter.setBrush(QColor(22, 160, 133));
        painter.drawRect(QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r));
        break;
    case Kind::FirstByte: {
        painter.setBrush(laneColour);
        const QPolygonF triangle({c + QPointF(-r, r), c + QPointF(r, 0), c + QPointF(-r, -r)});
        painter.drawPolygon(triangle);
        break;
    }
    case Kind::Fin:
    case Kind::Reset:
    case Kind::Failed:
    case Kind::Timeout: {
        const QColor colour = shown.mark.kind == Kind::Fin ? FinColour : shown.mark.kind == Kind::Timeout ? QColor(211, 84, 0) : ResetColour;
        painter.setPen(QPen(colour, 3));
        painter.drawLine(QPointF(c.x(), c.y() - r - 3), QPointF(c.x(), c.y() + r + 3));
        painter.setPen(QPen(colour, 1));
        QFont font = painter.font();
        font.setPointSizeF(font.pointSizeF() * 0.75);
        painter.setFont(font);
        const QString letter = shown.mark.kind == Kind::Fin ? QStringLiteral("FIN")
                             : shown.mark.kind == Kind::Reset ? QStringLiteral("RST")
                             : shown.mark.kind == Kind::Timeout ? QStringLiteral("T/O") : QStringLiteral("ERR");
        painter.drawText(QPointF(c.x() + 3, c.y() - 3), letter);
        break;
    }
    case Kind::FinSent:
    case Kind::ResetSent: {
        const QColor colour = shown.mark.kind == Kind::FinSent ? FinColour : ResetColour;
        painter.setPen(QPen(colour, 2));
        painter.setBrush(colour);
        const QPolygonF arrow({c + QPointF(-r, -r), c + QPointF(0, 0), c + QPointF(-r, r)});
        painter.drawPolyline(arrow);
        break;
    }
    case Kind::ConnectFailed:
        painter.setPen(QPen(ResetColour, 2));
        painter.drawLine(c + QPointF(-r, -r), c + QPointF(r, r));
        painter.drawLine(c + QPointF(-r, r), c + QPointF(r, -r));
        break;
    case Kind::StallStart:
    case Kind::StallEnd:
        painter.setPen(QPen(QColor(183, 149, 11), 2));
        painter.drawLine(QPointF(c.x(), c.y() - r), QPointF(c.x(), c.y() + r));
        break;
    case Kind::Fault: {
        // A lightning bolt across the lanes: done on purpose.
        const QColor colour(230, 126, 34);
        painter.setPen(QPen(colour, 2));
        painter.drawPolyline(QPolygonF({c + QPointF(r, -2 * r), c + QPointF(-r, 0), c + QPointF(r, 0),
                                        c + QPointF(-r, 2 * r)}));
        break;
    }
    case Kind::Closed:
        painter.setPen(QPen(palette().color(QPalette::WindowText), 2));
        painter.drawLine(QPointF(c.x(), laneY(Lane::Client) - LaneHeight / 2 + 2),
                         QPointF(c.x(), laneY(Lane::Upstream) + LaneHeight / 2 - 2));
        break;
    }
}

void LifecycleStrip::paintEvent(QPaintEvent *)
{
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);
    painter.fillRect(rect(), palette().color(QPalette::Base));
    const QColor text = palette().color(QPalette::WindowText);
    if (m_empty) {
        painter.setPen(text);
        painter.drawText(rect(), Qt::AlignCenter, tr("Select a connection to see its life."));
        return;
    }
    const ConnectionTimeline &timeline = m_record.timeline;
    const qreal right = xOf(m_endUs);

    // Lanes: a label and a line for the time the leg existed.
    for (const Lane lane : {Lane::Client, Lane::Upstream}) {
        const qreal y = laneY(lane);
        painter.setPen(text);
        painter.drawText(QRectF(4, y - LaneHeight / 2.0, LabelWidth - 8, LaneHeight), Qt::AlignVCenter | Qt::AlignLeft,
                         lane == Lane::Client ? tr("client") : tr("upstream"));
        const qint64 start = lane == Lane::Client ? 0 : timeline.timeOf(Kind::Connecting, Lane::Upstream);
        if (start < 0)
            continue;
        painter.setPen(QPen(palette().color(QPalette::Mid), 1));
        painter.drawLine(QPointF(xOf(start), y), QPointF(right, y));
    }
    // Stalls: shaded where a side was not taking bytes (one still going
    // on, or cut by the end, runs to the end).
    for (const TimeBreakdown::Span &span : TimeBreakdown::spans(m_record, m_endUs)) {
        if (span.phase != TimeBreakdown::Phase::Stall)
            continue;
        const qreal y = laneY(span.lane);
        painter.fillRect(QRectF(QPointF(xOf(span.fromUs), y - 9), QPointF(qMax(xOf(span.toUs), xOf(span.fromUs) + 1), y + 9)),
                         StallColour);
    }
    // Data: from each side's first byte to its last.
    for (const Lane lane : {Lane::Client, Lane::Upstream}) {
        const int direction = lane == Lane::Client ? 0 : 1;
        const qint64 first = timeline.timeOf(Kind::FirstByte, lane);
        if (first < 0)
            continue;
        const qint64 last = qMax(first, timeline.lastByteUs[direction]);
        const qreal y = laneY(lane);
        painter.fillRect(QRectF(QPointF(xOf(first), y - 3), QPointF(qMax(xOf(last), xOf(first) + 2), y + 3)),
                         lane == Lane::Client ? UpColour : DownColour);
    }
    // A FIN or reset passed on: from the lane that sent it to the other.
    for (const TimelineMark &mark : timeline.marks) {
        if (mark.kind != Kind::Fin && mark.kind != Kind::Reset)
            continue;
        const Kind sent = mark.kind == Kind::Fin ? Kind::FinSent : Kind::ResetSent;
        const Lane other = mark.lane == Lane::Client ? Lane::Upstream : Lane::Client;
        for (const TimelineMark &answer : timeline.marks) {
            if (answer.kind == sent && answer.lane == other && answer.atUs >= mark.atUs) {
                painter.setPen(QPen(mark.kind == Kind::Fin ? FinColour : ResetColour, 1, Qt::DashLine));
                painter.drawLine(QPointF(xOf(mark.atUs), laneY(mark.lane)), QPointF(xOf(answer.atUs), laneY(other)));
                break;
            }
        }
    }
    for (const ShownMark &shown : m_shown)
        drawGlyph(painter, shown);

    // The axis.
    const qreal axisY = TopMargin + 2 * LaneHeight + 2;
    painter.setPen(QPen(palette().color(QPalette::Mid), 1));
    painter.drawLine(QPointF(LabelWidth, axisY), QPointF(right, axisY));
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.8);
    painter.setFont(small);
    const int maxTicks = qMax(2, (width() - LabelWidth - RightMargin) / 70);
    const qint64 step = tickStep(m_endUs, maxTicks);
    for (qint64 at = 0; at <= m_endUs; at += step) {
        const qreal x = xOf(at);
        painter.setPen(QPen(palette().color(QPalette::Mid), 1));
        painter.drawLine(QPointF(x, axisY), QPointF(x, axisY + 3));
        painter.setPen(text);
        painter.drawText(QRectF(x - 35, axisY + 3, 70, AxisHeight - 4), Qt::AlignHCenter | Qt::AlignTop,
                         LifeSummary::duration(at));
    }
}
