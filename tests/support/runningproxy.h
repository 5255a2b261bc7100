#pragma once

#include "proxyserver.h"
#include "recordcollector.h"

// The block an end-to-end test starts with: a ProxyServer and the records
// it reports, kept as a window would keep them. Declared in that order, so
// that the records outlive the server's last batch.
//
//     RunningProxy proxy;
//     QVERIFY(proxy.start(config));
//     const QByteArray reply = proxy.ask("GET / HTTP/1.0\r\n\r\n");
//     const ConnectionRecord record = proxy.records.waitForOnlyClosed();
struct RunningProxy
{
    ProxyServer server;
    RecordCollector records{&server};

    // Starts the server on config; when it cannot listen, false, with the
    // server's reason in the test's log.
    [[nodiscard]] bool start(const ProxyConfig &config);
    quint16 port() const { return server.listenPort(); }
    // What a client gets that connects, sends request (then shuts down its
    // writing, with halfClose) and reads until EOF: Loopback::askOnce.
    QByteArray ask(const QByteArray &request, bool halfClose = false) const;
};
