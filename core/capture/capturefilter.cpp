#include "capturefilter.h"

namespace {

QStringList tokens(const QString &text)
{
    QStringList result;
    QString current;
    bool quoted = false;
    bool any = false;
    for (const QChar c : text) {
        if (c == u'"') {
            quoted = !quoted;
            any = true;
        } else if (c.isSpace() && !quoted) {
            if (any)
                result.append(current);
            current.clear();
            any = false;
        } else {
            current.append(c);
            any = true;
        }
    }
    if (any)
        result.append(current);
    return result;
}

bool contains(QStringView haystack, const QString &needle)
{
    return haystack.contains(needle, Qt::CaseInsensitive);
}

bool contains(QByteArrayView haystack, const QString &needle)
{
    return QString::fromLatin1(haystack).contains(needle, Qt::CaseInsensitive);
}

QByteArrayView hostOf(const HttpExchange &exchange)
{
    const QByteArrayView host = exchange.request.host();
    return host.isEmpty() ? exchange.request.target() : host;
}

bool flagged(quint32 flags)
{
    return flags & (HttpHead::MalformedLine | HttpHead::Truncated | HttpHead::DesyncRisk);
}

bool isFailed(const ConnectionRecord &record)
{
    using Reason = ConnectionRecord::CloseReason;
    return record.closeReason == Reason::Error || record.closeReason == Reason::Timeout;
}

bool isReset(const ConnectionRecord &record)
{
    using Reason = ConnectionRecord::CloseReason;
    return record.closeReason == Reason::ClientReset || record.closeReason == Reason::UpstreamReset;
}

} // namespace

CaptureFilter CaptureFilter::parse(const QString &text, QString *error)
{
    static const QStringList fields{QStringLiteral("host"), QStringLiteral("status"), QStringLiteral("method"),
                                    QStringLiteral("client"), QStringLiteral("state"), QStringLiteral("is")};
    CaptureFilter filter;
    QStringList problems;
    for (QString token : tokens(text)) {
        Term term;
        if (token.size() > 1 && token.startsWith(u'-')) {
            term.negated = true;
            token.remove(0, 1);
        }
        const qsizetype colon = token.indexOf(u':');
        const QString name = colon > 0 ? token.left(colon).toLower() : QString();
        const qsizetype known = fields.indexOf(name);
        if (colon > 0 && known >= 0 && colon + 1 < token.size()) {
            term.field = Field(known + 1);
            term.value = token.mid(colon + 1).toLower();
        } else {
            if (colon > 0 && known < 0 && name.at(0).isLetter() && !name.contains(u'.'))
                problems.append(QStringLiteral("unknown field \"%1\" (taken as a word)").arg(name));
            term.value = token.toLower();
        }
        if (term.field == Field::Status) {
            QString value = term.value;
            bool ok = false;
            if (value.size() == 3 && value.endsWith(QStringLiteral("xx"))) {
                const int hundreds = value.left(1).toInt(&ok);
                term.statusLow = hundreds * 100;
                term.statusHigh = hundreds * 100 + 99;
            } else if (value.startsWith(QStringLiteral(">="))) {
                term.statusLow = value.mid(2).toInt(&ok);
                term.statusHigh = 999;
            } else if (value.startsWith(QStringLiteral("<="))) {
                term.statusLow = 1;
                term.statusHigh = value.mid(2).toInt(&ok);
            } else {
                term.statusLow = term.statusHigh = value.toInt(&ok);
            }
            if (!ok) {
                problems.append(QStringLiteral("status takes 404, 4xx, >=400 or <=299, not \"%1\"").arg(value));
                term.field = Field::Text;
            }
        }
        filter.m_terms.append(term);
    }
    if (error)
        *error = problems.join(QStringLiteral("; "));
    return filter;
}

bool CaptureFilter::matchesConnection(const ConnectionRecord &record) const
{
    return matches(&record, nullptr);
}

bool CaptureFilter::matchesExchange(const HttpExchange &exchange, const ConnectionRecord *record) const
{
    return matches(record, &exchange);
}

bool CaptureFilter::matches(const ConnectionRecord *record, const HttpExchange *exchange) const
{
    for (const Term &term : m_terms) {
        if (holds(term, record, exchange) == term.negated)
            return false;
    }
    return true;
}

bool CaptureFilter::holds(const Term &term, const ConnectionRecord *record, const HttpExchange *exchange) const
{
    const QString &value = term.value;
    switch (term.field) {
    case Field::Text:
        if (record
            && (contains(record->client, value) || contains(record->upstream, value)
                || contains(record->upstreamAddress, value) || contains(record->error, value)
                || contains(ConnectionRecord::stateName(record->state), value) || QString::number(record->id) == value))
            return true;
        return exchange
            && (contains(exchange->request.method(), value) || contains(exchange->request.target(), value)
                || contains(hostOf(*exchange), value) || contains(exchange->response.reason(), value)
                || (exchange->hasResponse() && QString::number(exchange->response.status) == value));
    case Field::Host:
        return (exchange && contains(hostOf(*exchange), value)) || (record && contains(record->upstream, value));
    case Field::Status:
        return exchange && exchange->hasResponse() && exchange->response.status >= term.statusLow
            && exchange->response.status <= term.statusHigh;
    case Field::Method:
        return exchange && exchange->request.method().compare(value.toLatin1(), Qt::CaseInsensitive) == 0;
    case Field::Client:
        return record && contains(record->client, value);
    case Field::State:
        if (!record)
            return false;
        if (value == u"reset")
            return isReset(*record);
        if (value == u"failed" || value == u"error")
            return isFailed(*record);
        if (value == u"live")
            return !record->isClosed();
        return contains(ConnectionRecord::stateName(record->state), value)
            || (record->isClosed() && contains(ConnectionRecord::closeReasonName(record->closeReason), value));
    case Field::Is:
        if (value == u"flagged")
            return exchange && flagged(exchange->flags);
        if (value == u"malformed")
            return exchange && (exchange->flags & HttpHead::MalformedLine);
        if (value == u"truncated")
            return exchange && (exchange->flags & HttpHead::Truncated);
        if (value == u"smuggling")
            return exchange && (exchange->flags & HttpHead::DesyncRisk);
        if (value == u"raw")
            return record && record->raw;
        if (value == u"tls")
            return (record && (!record->upstreamTls().isEmpty() || record->decryption != ConnectionRecord::Decryption::None))
                || (exchange && exchange->secure);
        if (value == u"passthrough")
            return record && record->decryption == ConnectionRecord::Decryption::Passthrough;
        if (value == u"rejected")
            return record && record->decryption == ConnectionRecord::Decryption::Rejected;
        if (value == u"decrypted")
            return record && record->decryption == ConnectionRecord::Decryption::Decrypted;
        if (value == u"live")
            return record && !record->isClosed();
        if (value == u"error")
            return record && (isFailed(*record) || isReset(*record));
        return false;
    }
    return false;
}
