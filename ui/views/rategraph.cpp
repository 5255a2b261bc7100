#include "rategraph.h"

#include "displaytext.h"
#include "lifesummary.h"

#include <QPainter>

#include <algorithm>

namespace {

constexpr int LeftMargin = 70;
constexpr int RightMargin = 12;
constexpr int TopMargin = 14;
constexpr int BottomMargin = 16;
constexpr int PixelsPerBin = 3;

const QColor UpColour(230, 126, 34);
const QColor DownColour(41, 128, 185);

} // namespace

RateGraph::RateGraph(QWidget *parent)
    : QWidget(parent)
{
}

void RateGraph::setHistory(const RateHistory &history, qint64 endUs)
{
    m_history = history;
    m_endUs = qMax<qint64>(qMax(endUs, history.lastUs()), 1000);
    m_empty = false;
    sample();
    update();
}

void RateGraph::clear()
{
    m_history = RateHistory();
    m_empty = true;
    m_up.clear();
    m_down.clear();
    update();
}

void RateGraph::resizeEvent(QResizeEvent *event)
{
    QWidget::resizeEvent(event);
    sample();
}

void RateGraph::sample()
{
    if (m_empty)
        return;
    const int bins = qMax(1, (width() - LeftMargin - RightMargin) / PixelsPerBin);
    m_history.rates(0, m_endUs, bins, &m_up, &m_down);
}

void RateGraph::paintEvent(QPaintEvent *)
{
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);
    painter.fillRect(rect(), palette().color(QPalette::Base));
    const QColor text = palette().color(QPalette::WindowText);
    if (m_empty || m_up.isEmpty())
        return;
    const QRectF plot(LeftMargin, TopMargin, qMax(1, width() - LeftMargin - RightMargin),
                      qMax(1, height() - TopMargin - BottomMargin));
    float top = 0;
    for (const QList<float> *series : {&m_up, &m_down})
        top = std::max(top, *std::max_element(series->cbegin(), series->cend()));
    painter.setPen(QPen(palette().color(QPalette::Mid), 1));
    painter.drawLine(plot.bottomLeft(), plot.bottomRight());
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.8);
    painter.setFont(small);
    painter.setPen(text);
    painter.drawText(QRectF(0, plot.top() - 6, LeftMargin - 6, 14), Qt::AlignRight | Qt::AlignVCenter,
                     top > 0 ? DisplayText::rate(top) : tr("no data"));
    painter.drawText(QRectF(0, plot.bottom() - 7, LeftMargin - 6, 14), Qt::AlignRight | Qt::AlignVCenter, QStringLiteral("0"));
    painter.drawText(QRectF(plot.left(), plot.bottom() + 1, 80, BottomMargin), Qt::AlignLeft | Qt::AlignTop, QStringLiteral("0"));
    painter.drawText(QRectF(plot.right() - 80, plot.bottom() + 1, 80, BottomMargin), Qt::AlignRight | Qt::AlignTop,
                     LifeSummary::duration(m_endUs));
    painter.setPen(UpColour);
    painter.drawText(QRectF(plot.left() + 4, 0, 120, TopMargin), Qt::AlignLeft | Qt::AlignVCenter, tr("▬ up (from client)"));
    painter.setPen(DownColour);
    painter.drawText(QRectF(plot.left() + 130, 0, 160, TopMargin), Qt::AlignLeft | Qt::AlignVCenter, tr("▬ down (from upstream)"));
    if (top <= 0)
        return;
    // Down as one opaque rectangle per bin and up as a hairline. A stroked,
    // antialiased path of a spiky life (a byte every few hundred ms) cost
    // the window over 100 ms per repaint; a translucent or polygon fill of
    // this size goes through span blending, which the raster engine hands
    // to helper threads that wait their turn on a machine busy relaying. An
    // opaque rectangle is a plain memory fill on the painting thread.
    const qreal binWidth = plot.width() / m_up.size();
    const auto yOf = [&](float rate) { return plot.bottom() - plot.height() * qreal(rate) / qreal(top); };
    const QColor base = palette().color(QPalette::Base);
    const auto mix = [](int over, int under) { return (over * 110 + under * 145) / 255; };
    const QColor fill(mix(DownColour.red(), base.red()), mix(DownColour.green(), base.green()),
                      mix(DownColour.blue(), base.blue()));
    const int bottom = qRound(plot.bottom());
    painter.setRenderHint(QPainter::Antialiasing, false);
    QPolygonF up;
    up.reserve(m_up.size());
    for (qsizetype i = 0; i < m_up.size(); ++i) {
        const qreal left = plot.left() + binWidth * qreal(i);
        const int x = qRound(left);
        const int barTop = qRound(yOf(m_down[i]));
        if (barTop < bottom)
            painter.fillRect(QRect(QPoint(x, barTop), QPoint(qRound(left + binWidth) - 1, bottom - 1)), fill);
        up.append(QPointF(left + binWidth / 2, yOf(m_up[i])));
    }
    painter.setRenderHint(QPainter::Antialiasing);
    QPen upPen(UpColour, 1);
    upPen.setCosmetic(true);
    painter.setPen(upPen);
    painter.setBrush(Qt::NoBrush);
    painter.drawPolyline(up);
}
