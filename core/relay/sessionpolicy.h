#pragma once

#include "connectionrecord.h"
#include "flow.h"

#include <QString>

#include <cstdint>

struct ResolveResult;

// What a relayed connection does with its two legs and flows: where the
// upstream leg goes and when, what its events mean, what a FIN or a failed
// side ends. The connection (RelayConnection) owns the legs, the flows and
// the reaching of an upstream; a policy decides. Forwarding and the HTTP
// proxy are the two; an HTTP proxy's CONNECT hands the connection over to
// forwarding, as nginx swaps a connection's handlers after a handshake.
class SessionPolicy
{
public:
    using Reason = ConnectionRecord::CloseReason;
    using Side = Flow::Side;

    virtual ~SessionPolicy() = default;

    // The client passed the allow-list.
    virtual void begin() = 0;
    // It did not: why says so.
    virtual void refuse(const QString &why) = 0;
    // The upstream's addresses are known; false when the policy answered
    // instead of connecting (a request loop).
    virtual bool addressesResolved(const ResolveResult &result);
    virtual void connected(std::uint32_t events) = 0;
    virtual void connectFailed(Reason reason, const QString &why) = 0;
    // An epoll event for a side, other than the upstream's connect.
    virtual void handleEvent(Side side, std::uint32_t events) = 0;
    // A source that had more than a wake-up's share gets its next turn.
    virtual void pumpAgain(Side side) = 0;
    // What a flow reported (FlowResult::Ended, FinDue), as the policy understands it.
    virtual void flowEnded(Flow &flow) = 0;
    virtual void finDue(Flow &flow) = 0;
    // A side failed; true when the policy dealt with it (an HTTP proxy
    // answers a request whose upstream failed before answering).
    virtual bool sideFailed(Side side, int error);
    // True, with the reason, once the end is decided (an HTTP proxy that
    // answered and is closing): how the client then leaves does not
    // replace it.
    virtual bool endDecided(Reason *reason) const;
    // The connection has finished: let go of what the policy holds open.
    virtual void ended();
};
