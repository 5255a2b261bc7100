#include "httphead.h"

QByteArrayView HttpHead::text(Span span) const
{
    const qsizetype rawSize = raw.size();
    if (span.offset < rawSize)
        return QByteArrayView(raw).sliced(span.offset, qMin<qsizetype>(span.size, rawSize - span.offset));
    return QByteArrayView(assembled).sliced(span.offset - rawSize, span.size);
}

QByteArrayView HttpHead::value(QByteArrayView name) const
{
    for (const Header &header : headers) {
        if (header.name.size == name.size() && text(header.name).compare(name, Qt::CaseInsensitive) == 0)
            return text(header.value);
    }
    return QByteArrayView();
}

QByteArrayView HttpHead::host() const
{
    const QByteArrayView path = target();
    if (method() == "CONNECT")
        return path;
    const qsizetype scheme = path.indexOf("://");
    if (scheme > 0 && !path.startsWith('/')) {
        QByteArrayView authority = path.sliced(scheme + 3);
        for (const char stop : {'/', '?', '#'}) {
            const qsizetype at = authority.indexOf(stop);
            if (at >= 0)
                authority = authority.first(at);
        }
        return authority.sliced(authority.lastIndexOf('@') + 1);
    }
    return value("Host");
}

QVarLengthArray<QByteArrayView, 4> HttpHead::values(QByteArrayView name) const
{
    QVarLengthArray<QByteArrayView, 4> result;
    for (const Header &header : headers) {
        if (header.name.size == name.size() && text(header.name).compare(name, Qt::CaseInsensitive) == 0)
            result.append(text(header.value));
    }
    return result;
}

quint32 HttpHead::flagNamed(QByteArrayView name)
{
    for (const quint32 flag : {BareLineFeed, MalformedLine, Truncated, AmbiguousFraming, BodyShort, ControlCharacter,
                                LaxChunkFraming}) {
        HttpHead head;
        head.flags = flag;
        if (head.flagNames().value(0) == name)
            return flag;
    }
    return 0;
}

QList<QByteArray> HttpHead::flagNames() const
{
    QList<QByteArray> names;
    if (has(BareLineFeed))
        names.append("bare_lf");
    if (has(MalformedLine))
        names.append("malformed_line");
    if (has(Truncated))
        names.append("truncated");
    if (has(AmbiguousFraming))
        names.append("ambiguous_framing");
    if (has(BodyShort))
        names.append("body_short");
    if (has(ControlCharacter))
        names.append("control_char");
    if (has(LaxChunkFraming))
        names.append("lax_chunk");
    return names;
}
