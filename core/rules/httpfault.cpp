#include "httpfault.h"

#include "httphead.h"
#include "ruleunits.h"

namespace {

using Kind = HttpFault::Kind;

constexpr struct
{
    Kind kind;
    const char16_t *name;
} Names[] = {
    {Kind::Status, u"status"},
    {Kind::DelayHead, u"delay-head"},
    {Kind::CutBody, u"cut-body"},
    {Kind::NoResponse, u"no-response"},
};

// The path and query of a request target, in origin form also when it
// came in absolute form (as sent to a proxy).
QByteArrayView pathOf(QByteArrayView target)
{
    const qsizetype scheme = target.indexOf("://");
    if (scheme < 0 || target.startsWith('/'))
        return target;
    const qsizetype slash = target.indexOf('/', scheme + 3);
    return slash < 0 ? QByteArrayView("/") : target.sliced(slash);
}

// A host without its port (brackets of an IPv6 literal stay).
QByteArrayView withoutPort(QByteArrayView host)
{
    const qsizetype colon = host.lastIndexOf(':');
    if (colon < 0 || host.sliced(colon).contains(']'))
        return host;
    return host.first(colon);
}

} // namespace

bool HttpFault::named(const QString &name, Kind *kind)
{
    for (const auto &entry : Names) {
        if (name == QStringView(entry.name)) {
            *kind = entry.kind;
            return true;
        }
    }
    return false;
}

HttpFault::HttpFault(Kind kind)
    : m_kind(kind)
    , m_matched(std::make_shared<std::atomic<quint64>>(0))
    , m_patterns(std::make_shared<std::mutex>())
{
}

bool HttpFault::take(const QString &key, const QString &value, bool *known, QString *error)
{
    *known = true;
    auto count = [&](quint64 *into) {
        bool ok = false;
        const qulonglong n = value.toULongLong(&ok);
        if (ok && n > 0) {
            *into = n;
            return true;
        }
        *error = QStringLiteral("%1 '%2' is not a whole number above 0").arg(key, value);
        return false;
    };
    auto pattern = [&](const QString &text, QRegularExpression *into) {
        QRegularExpression expression(text);
        if (!expression.isValid()) {
            *error = QStringLiteral("%1 '%2' is not a regular expression: %3 at %4")
                         .arg(key, text, expression.errorString())
                         .arg(expression.patternErrorOffset());
            return false;
        }
        expression.optimize();
        *into = expression;
        return true;
    };
    if (key == u"code" && m_kind == Kind::Status) {
        bool ok = false;
        m_status = value.toInt(&ok);
        if (!ok || m_status < 200 || m_status > 999) {
            *error = QStringLiteral("code '%1' is not a final HTTP status (200 to 999)").arg(value);
            return false;
        }
        return true;
    }
    if (key == u"delay" && m_kind == Kind::DelayHead) {
        if (RuleUnits::parseDuration(value, &m_delayUs) && m_delayUs > 0)
            return true;
        *error = QStringLiteral("delay '%1' is not a duration (50ms, 1.5s, 250us)").arg(value);
        return false;
    }
    if (key == u"bytes" && m_kind == Kind::CutBody) {
        qint64 bytes = 0;
        if (!RuleUnits::parseBytes(value, &bytes)) {
            *error = QStringLiteral("bytes '%1' is not a byte count (1000, 64KiB, 1MB)").arg(value);
            return false;
        }
        m_bodyBytes = quint64(bytes);
        m_haveBytes = true;
        return true;
    }
    if (key == u"then" && m_kind == Kind::CutBody) {
        if (value != u"close" && value != u"reset") {
            *error = QStringLiteral("then '%1' is not close or reset").arg(value);
            return false;
        }
        m_reset = value == u"reset";
        return true;
    }
    if (key == u"method") {
        m_method = value.toLatin1();
        return true;
    }
    if (key == u"host") {
        m_host = value.toLower();
        return true;
    }
    if (key == u"path")
        return pattern(value, &m_path);
    if (key == u"header") {
        // "Name" (present) or "Name:pattern" (a value matches).
        const qsizetype colon = value.indexOf(u':');
        m_header = (colon < 0 ? value : value.left(colon)).trimmed().toLatin1();
        if (m_header.isEmpty()) {
            *error = QStringLiteral("header '%1' names no header (Name or Name:pattern)").arg(value);
            return false;
        }
        return colon < 0 || pattern(value.mid(colon + 1), &m_headerValue);
    }
    if (key == u"first")
        return count(&m_first);
    if (key == u"every")
        return count(&m_every);
    *known = false;
    return false;
}

bool HttpFault::complete(QString *error) const
{
    switch (m_kind) {
    case Kind::Status:
        if (m_status == 0) {
            *error = QStringLiteral("status needs code=NNN");
            return false;
        }
        break;
    case Kind::DelayHead:
        if (m_delayUs <= 0) {
            *error = QStringLiteral("delay-head needs delay=DURATION");
            return false;
        }
        break;
    case Kind::CutBody:
        if (!m_haveBytes) {
            *error = QStringLiteral("cut-body needs bytes=N");
            return false;
        }
        break;
    case Kind::NoResponse:
        break;
    }
    if (m_first > 0 && m_every > 0) {
        *error = QStringLiteral("first= and every= do not go together");
        return false;
    }
    return true;
}

bool HttpFault::regexMatches(const QRegularExpression &expression, const QString &subject) const
{
    // QRegularExpression's copies share one compiled pattern; the rule's
    // copies on other workers match with it too.
    std::lock_guard<std::mutex> lock(*m_patterns);
    return expression.match(subject).hasMatch();
}

bool HttpFault::matches(const HttpHead &request) const
{
    if (!m_method.isEmpty() && request.method() != QByteArrayView(m_method))
        return false;
    if (!m_host.isEmpty()) {
        const QString host = QString::fromLatin1(withoutPort(request.host())).toLower();
        if (m_host.startsWith(u"*.")) {
            const QStringView parent = QStringView(m_host).sliced(2);
            if (host != parent && !host.endsWith(QStringView(m_host).sliced(1)))
                return false;
        } else if (host != m_host) {
            return false;
        }
    }
    if (!m_path.pattern().isEmpty() && !regexMatches(m_path, QString::fromLatin1(pathOf(request.target()))))
        return false;
    if (!m_header.isEmpty()) {
        bool found = false;
        for (const HttpHead::Header &header : request.headers) {
            if (request.name(header).compare(m_header, Qt::CaseInsensitive) != 0)
                continue;
            if (m_headerValue.pattern().isEmpty()
                || regexMatches(m_headerValue, QString::fromLatin1(request.value(header)))) {
                found = true;
                break;
            }
        }
        if (!found)
            return false;
    }
    return true;
}

bool HttpFault::takes() const
{
    const quint64 n = m_matched->fetch_add(1, std::memory_order_relaxed) + 1;
    if (m_first > 0)
        return n <= m_first;
    if (m_every > 0)
        return n % m_every == 0;
    return true;
}

void HttpFault::countAfresh()
{
    m_matched = std::make_shared<std::atomic<quint64>>(0);
}

QString HttpFault::describe() const
{
    switch (m_kind) {
    case Kind::Status: return QStringLiteral("answer %1").arg(m_status);
    case Kind::DelayHead:
        return QStringLiteral("delay the response head by %1").arg(RuleUnits::durationText(m_delayUs));
    case Kind::CutBody:
        return QStringLiteral("cut the response body after %1, then %2")
            .arg(RuleUnits::bytesText(qint64(m_bodyBytes)), m_reset ? QStringLiteral("reset") : QStringLiteral("close"));
    case Kind::NoResponse: return QStringLiteral("send no response");
    }
    return QString();
}

QString HttpFault::scope() const
{
    const QString method = m_method.isEmpty() ? QString() : QString::fromLatin1(m_method) + u' ';
    QString text = m_first > 1   ? QStringLiteral("the first %1 %2requests").arg(m_first).arg(method)
                   : m_first == 1 ? QStringLiteral("the first %1request").arg(method)
                   : m_every > 0  ? QStringLiteral("one %1request in %2").arg(method).arg(m_every)
                                  : QStringLiteral("every %1request").arg(method);
    if (!m_host.isEmpty())
        text += QStringLiteral(" to %1").arg(m_host);
    if (!m_path.pattern().isEmpty())
        text += QStringLiteral(" for %1").arg(m_path.pattern());
    if (!m_header.isEmpty()) {
        text += QStringLiteral(" with %1").arg(QString::fromLatin1(m_header));
        if (!m_headerValue.pattern().isEmpty())
            text += QStringLiteral(" matching %1").arg(m_headerValue.pattern());
    }
    return text;
}
