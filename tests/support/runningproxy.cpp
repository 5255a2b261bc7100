#include "runningproxy.h"

#include "loopback.h"

#include <QtGlobal>

bool RunningProxy::start(const ProxyConfig &config)
{
    if (server.start(config))
        return true;
    qWarning("the proxy did not start: %s", qPrintable(server.errorString()));
    return false;
}

QByteArray RunningProxy::ask(const QByteArray &request, bool halfClose) const
{
    return Loopback::askOnce(server.listenPort(), request, halfClose);
}
