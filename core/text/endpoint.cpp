#include "endpoint.h"

#include <QHostAddress>

namespace {

bool parsePort(const QString &text, quint16 *port, bool allowZero, QString *error)
{
    bool ok = false;
    const uint value = text.toUInt(&ok, 10);
    if (!ok || value > 65535 || (value == 0 && !allowZero)) {
        *error = QStringLiteral("'%1' is not a port number (0-65535)").arg(text);
        return false;
    }
    *port = quint16(value);
    return true;
}

bool validHostName(const QString &host)
{
    // Letters, digits, '-', '.', '_' as resolvers accept them; no spaces or
    // URL punctuation, which are the usual typos ("http://host").
    if (host.isEmpty() || host.size() > 253)
        return false;
    for (const QChar c : host) {
        if (!(c.isLetterOrNumber() || c == u'-' || c == u'.' || c == u'_'))
            return false;
    }
    return true;
}

} // namespace

bool Endpoint::parse(const QString &input, Endpoint *out, QString *error, bool allowPortOnly)
{
    const QString text = input.trimmed();
    QString host;
    QString portText;
    if (text.startsWith(u'[')) {
        const int close = text.indexOf(u']');
        if (close < 0 || close + 1 >= text.size() || text.at(close + 1) != u':') {
            *error = QStringLiteral("'%1': expected [IPv6]:PORT").arg(text);
            return false;
        }
        host = text.mid(1, close - 1);
        portText = text.mid(close + 2);
        if (QHostAddress(host).protocol() != QAbstractSocket::IPv6Protocol) {
            *error = QStringLiteral("'%1' is not an IPv6 address").arg(host);
            return false;
        }
    } else {
        const int colon = text.lastIndexOf(u':');
        if (colon < 0) {
            if (allowPortOnly && !text.isEmpty() && text.at(0).isDigit()) {
                out->host.clear();
                return parsePort(text, &out->port, true, error);
            }
            *error = QStringLiteral("'%1': expected HOST:PORT").arg(text);
            return false;
        }
        if (text.indexOf(u':') != colon) {
            *error = QStringLiteral("'%1': write IPv6 addresses in brackets, as [::1]:PORT").arg(text);
            return false;
        }
        host = text.left(colon);
        portText = text.mid(colon + 1);
        if (!validHostName(host)) {
            *error = host.isEmpty() ? QStringLiteral("'%1': the host is missing").arg(text)
                                    : QStringLiteral("'%1' is not a valid host name or address").arg(host);
            return false;
        }
    }
    quint16 port = 0;
    if (!parsePort(portText, &port, true, error))
        return false;
    out->host = host;
    out->port = port;
    return true;
}

namespace {

// "host:port", "[v6]:port", written straight into the string: two
// QString::arg() calls took about 4,000 instructions an address.
template <typename Host>
QString joined(Host host, quint16 port)
{
    char digits[5];
    int count = 0;
    do {
        digits[count++] = char('0' + port % 10);
        port /= 10;
    } while (port);
    const bool bracketed = host.contains(QLatin1Char(':'));
    QString text(host.size() + (bracketed ? 3 : 1) + count, Qt::Uninitialized);
    QChar *at = text.data();
    if (bracketed)
        *at++ = u'[';
    for (const auto c : host)
        *at++ = QChar(c);
    if (bracketed)
        *at++ = u']';
    *at++ = u':';
    while (count > 0)
        *at++ = QLatin1Char(digits[--count]);
    return text;
}

} // namespace

QString Endpoint::format(const QString &host, quint16 port)
{
    return joined(QStringView(host), port);
}

QString Endpoint::format(QLatin1String host, quint16 port)
{
    return joined(host, port);
}
