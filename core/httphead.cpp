#include "httphead.h"

QByteArray HttpHead::value(QByteArrayView name) const
{
    for (const Header &header : headers) {
        if (QByteArrayView(header.name).compare(name, Qt::CaseInsensitive) == 0)
            return header.value;
    }
    return QByteArray();
}

QList<QByteArray> HttpHead::values(QByteArrayView name) const
{
    QList<QByteArray> result;
    for (const Header &header : headers) {
        if (QByteArrayView(header.name).compare(name, Qt::CaseInsensitive) == 0)
            result.append(header.value);
    }
    return result;
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
    return names;
}
