#include "ratehistory.h"

#include <algorithm>

void RateHistory::add(qint64 atUs, quint64 up, quint64 down)
{
    if (!m_points.isEmpty()) {
        Point &last = m_points.last();
        if (atUs < last.atUs)
            return;
        if (atUs == last.atUs) {
            last.bytes[0] = up;
            last.bytes[1] = down;
            return;
        }
        // Nothing moved: the earlier point already says so.
        if (last.bytes[0] == up && last.bytes[1] == down && m_points.size() > 1
            && m_points.at(m_points.size() - 2).bytes[0] == up && m_points.at(m_points.size() - 2).bytes[1] == down) {
            last.atUs = atUs;
            return;
        }
    }
    // The first point speaks for the whole time since the accept (a record
    // read from a file comes alone, at the end).
    const qint64 spread = m_points.isEmpty() ? atUs : std::min(atUs - m_points.constLast().atUs, BatchUs);
    m_points.append(Point{atUs, {up, down}, spread});
    if (m_points.size() > MaxPoints)
        compact();
}

void RateHistory::compact()
{
    // Merges each odd point with the one after it; the first and the last
    // points stay. What a merge loses is only where, within the pair's
    // span, the bytes came.
    const auto same = [](const Point &a, const Point &b) { return a.bytes[0] == b.bytes[0] && a.bytes[1] == b.bytes[1]; };
    QList<Point> kept;
    kept.reserve(m_points.size() / 2 + 2);
    kept.append(m_points.constFirst());
    for (qsizetype i = 1; i < m_points.size(); ++i) {
        const Point &gone = m_points.at(i);
        if (i % 2 == 0 || i + 2 >= m_points.size()) {
            kept.append(gone);
            continue;
        }
        Point next = m_points.at(i + 1);
        ++i;
        if (same(gone, next)) {
            kept.append(gone); // next added nothing
        } else if (same(kept.constLast(), gone)) {
            kept.append(next); // gone added nothing
        } else {
            next.spreadUs = next.atUs - (gone.atUs - gone.spreadUs);
            kept.append(next);
        }
    }
    m_points.swap(kept);
}

double RateHistory::bytesAt(qint64 atUs, int direction) const
{
    if (m_points.isEmpty() || atUs <= 0)
        return 0;
    // The first point after atUs.
    const auto after = std::upper_bound(m_points.cbegin(), m_points.cend(), atUs,
                                        [](qint64 at, const Point &point) { return at < point.atUs; });
    if (after == m_points.cend())
        return double(m_points.constLast().bytes[direction]);
    const double before = after == m_points.cbegin() ? 0.0 : double((after - 1)->bytes[direction]);
    const double then = double(after->bytes[direction]);
    const qint64 start = after->atUs - after->spreadUs;
    if (atUs <= start || after->spreadUs <= 0)
        return before;
    return before + (then - before) * double(atUs - start) / double(after->spreadUs);
}

void RateHistory::rates(qint64 fromUs, qint64 toUs, int count, QList<float> *up, QList<float> *down) const
{
    up->resize(count);
    down->resize(count);
    if (count <= 0 || toUs <= fromUs)
        return;
    const double binUs = double(toUs - fromUs) / count;
    double previous[2] = {bytesAt(fromUs, 0), bytesAt(fromUs, 1)};
    for (int i = 0; i < count; ++i) {
        const qint64 end = fromUs + qint64(binUs * (i + 1));
        for (int direction = 0; direction < 2; ++direction) {
            const double now = bytesAt(end, direction);
            (direction == 0 ? *up : *down)[i] = float((now - previous[direction]) * 1e6 / binUs);
            previous[direction] = now;
        }
    }
}
