#pragma once

#include "proxyconfig.h"

#include <QStringList>

// A proxy on 127.0.0.1 forwarding to 127.0.0.1:upstreamPort, with the
// conditions and faults written as users write them; a rule that does not
// parse ends the test program, naming it (a test's own mistake).
ProxyConfig ruledConfig(quint16 upstreamPort, const QStringList &conditions = {}, const QStringList &faults = {});

// The same as an HTTP proxy on 127.0.0.1: each request names its upstream.
ProxyConfig ruledHttpProxy(const QStringList &conditions = {}, const QStringList &faults = {});
