#include "replayrequest.h"

#include "httpexchange.h"
#include "httpsyntax.h"

using HttpSyntax::sameName;

namespace {

// The values of the request's Transfer-Encoding lines, in order.
QList<QByteArrayView> transferEncodings(const QList<QPair<QByteArray, QByteArray>> &headers)
{
    QList<QByteArrayView> values;
    for (const auto &[name, value] : headers) {
        if (sameName(name, "transfer-encoding"))
            values.append(value);
    }
    return values;
}

} // namespace

ReplayRequest ReplayRequest::from(const HttpExchange &exchange, bool clientSpokeTls)
{
    ReplayRequest request;
    const HttpHead &head = exchange.request;
    request.method = head.method().toByteArray();
    request.url = exchange.url();
    request.version = head.version().toByteArray();
    for (const HttpHead::Header &header : head.headers)
        request.headers.append({head.name(header).toByteArray(), head.value(header).toByteArray()});
    request.body = exchange.requestBody;
    request.tlsToListener = clientSpokeTls;
    return request;
}

QByteArray ReplayRequest::scheme() const
{
    const qsizetype end = url.indexOf("://");
    return end < 0 ? QByteArray() : url.left(end).toLower();
}

QByteArray ReplayRequest::authority() const
{
    const qsizetype start = url.indexOf("://");
    if (start < 0)
        return {};
    QByteArray rest = url.mid(start + 3);
    for (const char stop : {'/', '?', '#'}) {
        const qsizetype at = rest.indexOf(stop);
        if (at >= 0)
            rest.truncate(at);
    }
    // A port after the host (after the brackets of an IPv6 literal).
    const qsizetype bracket = rest.lastIndexOf(']');
    const qsizetype colon = rest.lastIndexOf(':');
    if (colon > bracket)
        return rest;
    return rest + (scheme() == "https" ? ":443" : ":80");
}

QByteArray ReplayRequest::host() const
{
    QByteArray host = authority();
    host.truncate(host.lastIndexOf(':'));
    if (host.startsWith('[') && host.endsWith(']'))
        host = host.mid(1, host.size() - 2);
    return host;
}

QByteArray ReplayRequest::target() const
{
    const qsizetype start = url.indexOf("://");
    if (start < 0)
        return url.isEmpty() ? QByteArray("/") : url; // a bare target, as a forwarding capture may hold
    const qsizetype path = url.indexOf('/', start + 3);
    const qsizetype query = url.indexOf('?', start + 3);
    if (path < 0 && query < 0)
        return "/";
    if (path < 0 || (query >= 0 && query < path))
        return '/' + url.mid(query);
    QByteArray target = url.mid(path);
    const qsizetype fragment = target.indexOf('#');
    if (fragment >= 0)
        target.truncate(fragment);
    return target;
}

QString ReplayRequest::problem() const
{
    if (!HttpSyntax::isToken(method))
        return QStringLiteral("The method must be one word of letters, digits and !#$%&'*+-.^_`|~");
    if (version != "HTTP/1.1" && version != "HTTP/1.0")
        return QStringLiteral("The version must be HTTP/1.1 or HTTP/1.0");
    for (const char c : url) {
        if (uchar(c) <= ' ' || uchar(c) == 0x7f)
            return QStringLiteral("The URL may not hold spaces or control characters (write them as %20 and the like)");
    }
    for (const auto &[name, value] : headers) {
        if (!HttpSyntax::isToken(name))
            return QStringLiteral("The header name '%1' is not one word").arg(QString::fromUtf8(name.left(40)));
        if (!HttpSyntax::isFieldValue(value))
            return QStringLiteral("%1's value holds a control character (CR, LF, NUL...); servers would read it "
                                  "differently")
                .arg(QString::fromUtf8(name));
        QByteArrayView framing;
        if ((sameName(name, "connection") || sameName(name, "proxy-connection"))
            && HttpSyntax::anyListItem(value, [&framing](QByteArrayView option) {
                   return !(framing = HttpSyntax::framingHeader(option)).isEmpty();
               })) {
            return QStringLiteral("%1 may not name %2: the request's framing is not hop-by-hop")
                .arg(QString::fromUtf8(name), QString::fromLatin1(framing).toLower());
        }
    }
    if (const QList<QByteArrayView> values = transferEncodings(headers); !values.isEmpty()) {
        if (version == "HTTP/1.0")
            return QStringLiteral("HTTP/1.0 has no Transfer-Encoding");
        QByteArray codings;
        if (!HttpSyntax::requestCodings(values, &codings))
            return QStringLiteral("Transfer-Encoding must list codings, one word each, and end in chunked, once "
                                  "(proxymon frames the body)");
    }
    return QString();
}

QByteArray ReplayRequest::bytes(bool absoluteForm) const
{
    QByteArray head = method + ' ' + (absoluteForm ? url : target()) + ' ' + version + "\r\n";
    QByteArray codings;
    const bool chunked = HttpSyntax::requestCodings(transferEncodings(headers), &codings);
    bool framed = false;
    bool hasHost = false;
    // One framing line, where the first one the headers had was.
    const auto frame = [&] {
        if (!framed) {
            head += chunked ? "Transfer-Encoding: " + codings + "\r\n"
                            : "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
        }
        framed = true;
    };
    for (const auto &[name, value] : headers) {
        if (sameName(name, "host"))
            hasHost = true;
        if (sameName(name, "content-length") || sameName(name, "transfer-encoding")) {
            frame();
            continue;
        }
        head += name + (value.isEmpty() ? QByteArray(":") : ": " + value) + "\r\n";
    }
    if (!hasHost && version != "HTTP/1.0" && url.contains("://")) {
        // HTTP/1.1 requires one; the URL says which.
        const QByteArray port = authority().mid(authority().lastIndexOf(':') + 1);
        const bool defaultPort = port == (scheme() == "https" ? "443" : "80");
        head += "Host: " + (defaultPort ? authority().left(authority().lastIndexOf(':')) : authority()) + "\r\n";
    }
    if (!body.isEmpty())
        frame();
    head += "\r\n";
    if (!chunked)
        return head + body;
    if (body.isEmpty())
        return head + "0\r\n\r\n";
    return head + QByteArray::number(body.size(), 16) + "\r\n" + body + "\r\n0\r\n\r\n";
}

ReplayClient::Plan ReplayRequest::plan(const Listener &listener, QString *error) const
{
    *error = problem();
    if (!error->isEmpty())
        return {};
    ReplayClient::Plan plan;
    plan.listenHost = listener.host;
    plan.listenPort = listener.port;
    plan.method = method;
    plan.authorityFile = listener.authorityFile;
    plan.serverName = QString::fromUtf8(host());
    const QByteArray kind = scheme();
    if (listener.httpProxy) {
        if (kind == "https") {
            plan.tunnelAuthority = authority();
            plan.tls = true;
            plan.request = bytes(false);
        } else if (kind == "http") {
            plan.request = bytes(true);
        } else {
            *error = QStringLiteral("an HTTP proxy takes http:// and https:// URLs, not %1")
                         .arg(QString::fromUtf8(url.left(40)));
            return {};
        }
        return plan;
    }
    // Forwarding: the target is fixed; the URL gives the path and the name.
    plan.tls = tlsToListener;
    plan.request = bytes(false);
    return plan;
}
