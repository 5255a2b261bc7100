#pragma once

#include <QByteArray>
#include <QList>

// How a chunked body crossed the wire, beside its decoded bytes: the
// framing lines (chunk sizes with their extensions, the CRLF after each
// chunk's data, the last chunk, trailers), each at the offset in the
// decoded body where it came. Kept only while the body's bytes are (the
// capture's body prefix) and up to 64 KiB of framing; past that it is cut,
// and the wire form is known up to the last line kept. A value type.
class ChunkFraming
{
public:
    struct Line
    {
        quint64 at = 0;  // decoded body bytes before it
        QByteArray bytes;
    };

    static constexpr qsizetype MaxBytes = 64 * 1024;

    // A framing line after `at` decoded bytes, of which `kept` are kept.
    void add(quint64 at, qsizetype kept, const QByteArray &bytes);
    // For readers: a line as saved, and the mark that more was not kept.
    void append(Line line) { m_bytes += line.bytes.size(); m_lines.append(std::move(line)); }
    void markCut(quint64 at)
    {
        m_cut = true;
        m_cutAt = at;
    }

    bool isEmpty() const { return m_lines.isEmpty() && !m_cut; }
    bool isCut() const { return m_cut; }
    // Cut: the decoded offset of the first line not kept.
    quint64 cutAt() const { return m_cutAt; }
    const QList<Line> &lines() const { return m_lines; }
    qsizetype byteCount() const { return m_bytes; }

    // The wire bytes of the kept body: its bytes with the framing between
    // them. *covered: how many decoded bytes that takes in (all kept ones,
    // unless the framing was cut before them).
    QByteArray wire(const QByteArray &kept, qsizetype *covered) const;

private:
    QList<Line> m_lines;
    qsizetype m_bytes = 0;
    bool m_cut = false;
    quint64 m_cutAt = 0;
};
