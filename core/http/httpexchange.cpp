#include "httpexchange.h"

QByteArray HttpExchange::url() const
{
    const QByteArrayView target = request.target();
    if (request.method() == "CONNECT" || target.startsWith("http://") || target.startsWith("https://"))
        return target.toByteArray();
    const QByteArrayView host = request.value("host");
    if (host.isEmpty())
        return target.toByteArray();
    QByteArray url = secure ? QByteArray("https://") : QByteArray("http://");
    url += host;
    if (target != "*")
        url += target;
    return url;
}
