#include "rategraph.h"

#include "displaytext.h"
#include "lifesummary.h"

#include <QPainter>
#include <QPainterPath>

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
    const qreal binWidth = plot.width() / m_up.size();
    const auto yOf = [&](float rate) { return plot.bottom() - plot.height() * qreal(rate) / qreal(top); };
    QPainterPath down;
    down.moveTo(plot.left(), plot.bottom());
    QPainterPath up;
    for (qsizetype i = 0; i < m_up.size(); ++i) {
        const qreal x = plot.left() + binWidth * (qreal(i) + 0.5);
        down.lineTo(x, yOf(m_down[i]));
        if (i == 0)
            up.moveTo(x, yOf(m_up[i]));
        else
            up.lineTo(x, yOf(m_up[i]));
    }
    down.lineTo(plot.right(), plot.bottom());
    down.closeSubpath();
    QColor fill = DownColour;
    fill.setAlpha(110);
    painter.fillPath(down, fill);
    painter.setPen(QPen(UpColour, 1.5));
    painter.drawPath(up);
}
