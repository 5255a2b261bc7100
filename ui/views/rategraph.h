#pragma once

#include "ratehistory.h"

#include <QWidget>

// Bytes per second each way over a connection's whole life, drawn from its
// RateHistory: up (client to upstream) as a line, down as a filled area, on
// a shared scale, with a bin per few pixels.
class RateGraph : public QWidget
{
    Q_OBJECT
public:
    explicit RateGraph(QWidget *parent = nullptr);

    // endUs: the connection's time now (live) or at its end.
    void setHistory(const RateHistory &history, qint64 endUs);
    void clear();

    // The rates the last paint drew, per bin; what the tests read.
    const QList<float> &shownRates(int direction) const { return direction == 0 ? m_up : m_down; }

    QSize sizeHint() const override { return {600, 110}; }
    QSize minimumSizeHint() const override { return {200, 70}; }

protected:
    void paintEvent(QPaintEvent *event) override;
    void resizeEvent(QResizeEvent *event) override;

private:
    void sample();

    RateHistory m_history;
    qint64 m_endUs = 0;
    bool m_empty = true;
    QList<float> m_up;
    QList<float> m_down;
};
