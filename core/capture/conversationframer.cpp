#include "conversationframer.h"

#include "bytetext.h"

#include <QStringList>

#include <algorithm>

namespace {

// Each direction's stream cut into [start, end) pieces by the framing.
QList<QPair<qsizetype, qsizetype>> cut(const QByteArray &stream, const QList<qsizetype> &readEnds,
                                        const ConversationFramer::Framing &framing)
{
    using Kind = ConversationFramer::Framing::Kind;
    QList<QPair<qsizetype, qsizetype>> pieces;
    qsizetype at = 0;
    switch (framing.kind) {
    case Kind::ByRead:
        for (const qsizetype end : readEnds) {
            if (end > at)
                pieces.append({at, end});
            at = end;
        }
        break;
    case Kind::Delimiter:
        while (at < stream.size()) {
            const qsizetype found = framing.delimiter.isEmpty() ? -1 : stream.indexOf(framing.delimiter, at);
            const qsizetype end = found < 0 ? stream.size() : found + framing.delimiter.size();
            pieces.append({at, end});
            at = end;
        }
        break;
    case Kind::LengthPrefix:
        while (at < stream.size()) {
            quint64 length = 0;
            if (at + framing.prefixBytes > stream.size()) {
                pieces.append({at, stream.size()});
                break;
            }
            for (int i = 0; i < framing.prefixBytes; ++i) {
                const quint64 byte = quint8(stream[at + (framing.bigEndian ? i : framing.prefixBytes - 1 - i)]);
                length = (length << 8) | byte;
            }
            const qsizetype end = qsizetype(qMin<quint64>(quint64(at) + quint64(framing.prefixBytes) + length, quint64(stream.size())));
            pieces.append({at, end});
            at = end;
        }
        break;
    case Kind::Fixed:
        while (at < stream.size()) {
            const qsizetype end = qMin(stream.size(), at + qsizetype(qMax(1, framing.fixedBytes)));
            pieces.append({at, end});
            at = end;
        }
        break;
    }
    return pieces;
}

} // namespace

bool ConversationFramer::Framing::parse(const QString &text, Framing *framing, QString *error)
{
    Framing result;
    const QString spec = text.trimmed();
    const QString kind = spec.section(QLatin1Char(':'), 0, 0).toLower();
    const QString value = spec.section(QLatin1Char(':'), 1);
    bool ok = true;
    if (kind == QLatin1String("read")) {
        result.kind = Kind::ByRead;
    } else if (kind == QLatin1String("line") || kind == QLatin1String("crlf")) {
        result.kind = Kind::Delimiter;
        result.delimiter = kind == QLatin1String("line") ? QByteArray("\n") : QByteArray("\r\n");
    } else if (kind == QLatin1String("delimiter")) {
        result.kind = Kind::Delimiter;
        // C escapes, so that \r\n, \0 or \x1e can be typed.
        QByteArray bytes;
        const QByteArray raw = value.toUtf8();
        for (qsizetype i = 0; i < raw.size(); ++i) {
            if (raw[i] != '\\' || i + 1 == raw.size()) {
                bytes += raw[i];
                continue;
            }
            const char next = raw[++i];
            if (next == 'n') bytes += '\n';
            else if (next == 'r') bytes += '\r';
            else if (next == 't') bytes += '\t';
            else if (next == '0') bytes += '\0';
            else if (next == '\\') bytes += '\\';
            else if (next == 'x') {
                const int byte = i + 2 < raw.size() ? raw.mid(i + 1, 2).toInt(&ok, 16) : -1;
                if (byte < 0 || !ok) {
                    if (error)
                        *error = QStringLiteral("\\x takes two hex digits");
                    return false;
                }
                bytes += char(byte);
                i += 2;
            } else {
                if (error)
                    *error = QStringLiteral("unknown escape \\%1").arg(QLatin1Char(next));
                return false;
            }
        }
        if (bytes.isEmpty()) {
            if (error)
                *error = QStringLiteral("the delimiter is empty");
            return false;
        }
        result.delimiter = bytes;
    } else if (kind == QLatin1String("length")) {
        result.kind = Kind::LengthPrefix;
        QString width = value.toLower();
        result.bigEndian = !width.endsWith(QLatin1String("le"));
        if (width.endsWith(QLatin1String("le")) || width.endsWith(QLatin1String("be")))
            width.chop(2);
        result.prefixBytes = width.toInt(&ok);
        if (!ok || (result.prefixBytes != 1 && result.prefixBytes != 2 && result.prefixBytes != 4)) {
            if (error)
                *error = QStringLiteral("a length prefix is 1, 2 or 4 bytes (length:2be, length:4le)");
            return false;
        }
    } else if (kind == QLatin1String("fixed")) {
        result.kind = Kind::Fixed;
        result.fixedBytes = value.toInt(&ok);
        if (!ok || result.fixedBytes < 1) {
            if (error)
                *error = QStringLiteral("fixed takes a size of at least 1 (fixed:16)");
            return false;
        }
    } else {
        if (error)
            *error = QStringLiteral("\"%1\" is not a framing: read, line, crlf, delimiter:TEXT, length:1|2|4[be|le], fixed:N").arg(spec);
        return false;
    }
    *framing = result;
    return true;
}

QString ConversationFramer::Framing::describe() const
{
    switch (kind) {
    case Kind::ByRead: return QStringLiteral("read");
    case Kind::Delimiter:
        if (delimiter == "\n")
            return QStringLiteral("line");
        if (delimiter == "\r\n")
            return QStringLiteral("crlf");
        return QStringLiteral("delimiter:") + ByteText::readable(delimiter);
    case Kind::LengthPrefix:
        return QStringLiteral("length:%1%2").arg(prefixBytes).arg(bigEndian ? QStringLiteral("be") : QStringLiteral("le"));
    case Kind::Fixed: return QStringLiteral("fixed:%1").arg(fixedBytes);
    }
    return QString();
}

QList<ConversationFramer::Message> ConversationFramer::frame(const ConnectionRecord &record, const Framing &framing)
{
    // Where each direction's reads end in its stream, and the global order
    // and time of each read. Without reads (an older file), each side is
    // one read, the client's first.
    QList<RawRead> reads = record.rawReads;
    qsizetype covered[2] = {0, 0};
    for (const RawRead &read : std::as_const(reads))
        covered[read.fromClient ? 0 : 1] += read.bytes;
    // What the reads do not cover (past the bound on reads) came after them.
    const QByteArray *streams[2] = {&record.clientPrefix, &record.upstreamPrefix};
    for (int side = 0; side < 2; ++side) {
        if (streams[side]->size() > covered[side])
            reads.append({reads.isEmpty() ? 0 : reads.constLast().atUs, qint32(streams[side]->size() - covered[side]), side == 0});
    }
    struct Placed
    {
        qsizetype order; // the read's index
        qsizetype start;
        Message message;
    };
    QList<Placed> placed;
    for (int side = 0; side < 2; ++side) {
        const QByteArray &stream = *streams[side];
        QList<qsizetype> readEnds;
        QList<qsizetype> readIndex;
        qsizetype end = 0;
        for (qsizetype i = 0; i < reads.size(); ++i) {
            if (reads[i].fromClient != (side == 0))
                continue;
            end = qMin(stream.size(), end + reads[i].bytes);
            readEnds.append(end);
            readIndex.append(i);
        }
        qsizetype nextRead = 0;
        for (const auto &[start, stop] : cut(stream, readEnds, framing)) {
            while (nextRead < readEnds.size() && readEnds[nextRead] <= start)
                ++nextRead;
            const qsizetype read = readIndex.value(nextRead, reads.size());
            Message message;
            message.fromClient = side == 0;
            message.atUs = read < reads.size() ? reads[read].atUs : 0;
            message.bytes = stream.mid(start, stop - start);
            // A delimiter, length or size not met by the end of what was kept.
            switch (framing.kind) {
            case Framing::Kind::ByRead: break;
            case Framing::Kind::Delimiter: message.incomplete = !message.bytes.endsWith(framing.delimiter); break;
            case Framing::Kind::Fixed: message.incomplete = message.bytes.size() < framing.fixedBytes; break;
            case Framing::Kind::LengthPrefix: {
                quint64 length = 0;
                if (message.bytes.size() < framing.prefixBytes) {
                    message.incomplete = true;
                    break;
                }
                for (int i = 0; i < framing.prefixBytes; ++i)
                    length = (length << 8) | quint8(message.bytes[framing.bigEndian ? i : framing.prefixBytes - 1 - i]);
                message.incomplete = quint64(message.bytes.size()) < quint64(framing.prefixBytes) + length;
                break;
            }
            }
            placed.append({read, start, message});
        }
    }
    std::stable_sort(placed.begin(), placed.end(), [](const Placed &a, const Placed &b) {
        return a.order != b.order ? a.order < b.order : a.start < b.start;
    });
    QList<Message> messages;
    messages.reserve(placed.size());
    for (Placed &item : placed)
        messages.append(std::move(item.message));
    return messages;
}

QString ConversationFramer::render(const QList<Message> &messages, bool hex)
{
    QString text;
    for (const Message &message : messages) {
        text += QStringLiteral("%1 %2  %3 ms  %4 bytes%5\n")
                    .arg(message.fromClient ? QStringLiteral("▶") : QStringLiteral("◀"),
                         message.fromClient ? QStringLiteral("client  ") : QStringLiteral("upstream"))
                    .arg(double(message.atUs) / 1000, 0, 'f', 3)
                    .arg(message.bytes.size())
                    .arg(message.incomplete ? QStringLiteral(" (incomplete: the kept bytes end here)") : QString());
        QString body = hex ? ByteText::hexDump(message.bytes) : ByteText::readable(message.bytes);
        if (!body.endsWith(QLatin1Char('\n')))
            body += QLatin1Char('\n');
        text += body + QLatin1Char('\n');
    }
    return text;
}
