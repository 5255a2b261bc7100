#pragma once

#include "flowobserver.h"
#include "httpproxyfront.h"
#include "sessionpolicy.h"
#include "upstreampark.h"

class RelayConnection;
struct SocketAddress;

// The HTTP proxy: the front (HttpProxyFront) reads the client's requests
// and says where each goes; this policy carries that out over the
// connection's legs. It reaches each request's upstream, keeps idle
// keep-alive upstreams parked for the client's next request to their
// host, answers for proxymon itself (403, 502, 504, 508), sees every
// response byte, and hands the connection over to forwarding once it
// becomes a tunnel (CONNECT) or an upgraded protocol.
class HttpProxyPolicy final : public SessionPolicy, private FlowObserver
{
public:
    explicit HttpProxyPolicy(RelayConnection &connection);
    ~HttpProxyPolicy() override;

    void begin() override;
    void refuse(const QString &why) override;
    bool addressesResolved(const ResolveResult &result) override;
    void connected(std::uint32_t events) override;
    void connectFailed(Reason reason, const QString &why) override;
    void handleEvent(Side side, std::uint32_t events) override;
    void pumpAgain(Side side) override;
    void flowEnded(Flow &flow) override;
    void finDue(Flow &flow) override;
    bool sideFailed(Side side, int error) override;
    bool endDecided(Reason *reason) const override;
    void ended() override;

private:
    // FlowObserver, the last of the connection's filters: the front reads
    // every response byte (the requests it reads itself).
    bool watching(bool fromClient) const override { return !fromClient; }
    Window window(bool) override { return Window(); }
    Verdict seen(bool fromClient, const char *data, qsizetype size) override;
    void passed(bool, quint64) override {}

    // Still in charge: the connection has not ended or become a byte relay.
    bool live() const;
    void readClient();
    // A read of the client's bytes, for the front; true to read on.
    bool clientRead(const char *data, qsizetype received);
    // The client's FIN was read.
    void clientEnded();
    void advance();
    bool clientFinDue() const;
    void passClientFin();
    void connectUpstream(const HttpProxyFront::Route &route, bool tunnel);
    void parkUpstream();
    bool resumeParked(const HttpProxyFront::Route &route);
    void dropUpstream();
    void answerClient();
    void closeClientWhenFlushed(Reason reason);
    void becomeByteRelay(const QByteArray &early);
    bool isOwnListener(const SocketAddress &address) const;

    RelayConnection &m_connection;
    HttpProxyFront m_front;
    UpstreamPark m_parked;
    bool m_tunnelConnect = false;   // the upstream being reached is for CONNECT
    QString m_tunnelHost;
    bool m_ownPage = false;         // the upstream is http://proxymon.test/ (CaPage)
    bool m_closingClient = false;   // FIN to the client is due; its input is discarded
    bool m_clientThrottled = false; // reading stopped while the front held enough
    bool m_retired = false;         // the connection is a byte relay now
    bool m_feeding = false;         // advance() is handing the up flow bytes
    Reason m_endReason = Reason::ClientFin;
};
