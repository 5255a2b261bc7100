#pragma once

#include <QList>
#include <QtGlobal>

// A connection's bytes each way over its life, as the records of the 50 ms
// batches reported them: cumulative counts at the times the worker took
// them. A record comes only when something changed, so the bytes since the
// previous point are taken to have arrived within the batch before the new
// one (not spread over a long idle gap). Bounded: past MaxPoints, every
// other point is merged into its successor, so long connections keep
// coarser samples of their whole life.
class RateHistory
{
public:
    static constexpr int MaxPoints = 1024;
    static constexpr qint64 BatchUs = 50'000;

    struct Point
    {
        qint64 atUs = 0;     // since the connection was accepted
        quint64 bytes[2] = {0, 0}; // up (client to upstream), down
        qint64 spreadUs = 0; // the bytes since the previous point came within this long before atUs
    };

    // A count as of atUs; earlier times than the last are ignored, the same
    // time replaces it.
    void add(qint64 atUs, quint64 up, quint64 down);
    const QList<Point> &points() const { return m_points; }
    bool isEmpty() const { return m_points.isEmpty(); }
    qint64 lastUs() const { return m_points.isEmpty() ? 0 : m_points.constLast().atUs; }

    // Bytes that had crossed one way (0 up, 1 down) by atUs.
    double bytesAt(qint64 atUs, int direction) const;
    // Bytes per second each way in count equal bins of [fromUs, toUs).
    void rates(qint64 fromUs, qint64 toUs, int count, QList<float> *up, QList<float> *down) const;

private:
    void compact();

    QList<Point> m_points;
};
