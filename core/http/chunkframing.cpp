#include "chunkframing.h"

void ChunkFraming::add(quint64 at, qsizetype kept, const QByteArray &bytes)
{
    if (m_cut)
        return;
    // Past the kept bytes, or too many lines (a body of one-byte chunks):
    // what follows is not known.
    if (at > quint64(kept) || m_bytes + bytes.size() > MaxBytes) {
        markCut(at);
        return;
    }
    m_bytes += bytes.size();
    m_lines.append({at, bytes});
}

QByteArray ChunkFraming::wire(const QByteArray &kept, qsizetype *covered) const
{
    QByteArray out;
    out.reserve(kept.size() + m_bytes);
    qsizetype done = 0;
    for (const Line &line : m_lines) {
        const qsizetype at = qsizetype(qMin<quint64>(line.at, quint64(kept.size())));
        out += QByteArrayView(kept).sliced(done, at - done);
        out += line.bytes;
        done = at;
    }
    // Up to the first line not kept: no framing lies before it.
    const qsizetype end = m_cut ? qsizetype(qMin<quint64>(m_cutAt, quint64(kept.size()))) : kept.size();
    if (end > done) {
        out += QByteArrayView(kept).sliced(done, end - done);
        done = end;
    }
    *covered = done;
    return out;
}
