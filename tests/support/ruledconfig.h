#pragma once

#include "proxyconfig.h"

#include <QStringList>

// A proxy listening on listen ("127.0.0.1", "::1"; a free port)
// forwarding to targetHost:targetPort, stopping within 100 ms.
ProxyConfig forwardingConfig(const char *listen, const char *targetHost, quint16 targetPort);

// A proxy on 127.0.0.1 forwarding to 127.0.0.1:upstreamPort, with the
// conditions and faults written as users write them; a rule that does not
// parse ends the test program, naming it (a test's own mistake).
ProxyConfig ruledConfig(quint16 upstreamPort, const QStringList &conditions = {}, const QStringList &faults = {});

// The same as an HTTP proxy on 127.0.0.1: each request names its upstream.
ProxyConfig ruledHttpProxy(const QStringList &conditions = {}, const QStringList &faults = {});
