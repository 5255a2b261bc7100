#pragma once

#include "sessionpolicy.h"

#include <QByteArrayView>

class RelayConnection;

// Forwarding: one upstream, reached once, and every byte relayed exactly
// between it and the client, FINs and resets included. Also what an HTTP
// proxy's connection becomes after CONNECT or a protocol upgrade.
class ForwardingPolicy final : public SessionPolicy
{
public:
    explicit ForwardingPolicy(RelayConnection &connection);

    void begin() override;
    void refuse(const QString &why) override;
    void connected(std::uint32_t events) override;
    void connectFailed(Reason reason, const QString &why) override;
    void handleEvent(Side side, std::uint32_t events) override;
    void pumpAgain(Side side) override;
    void flowEnded(Flow &flow) override;
    void finDue(Flow &flow) override;

private:
    // Answers a client whose first bytes are an HTTP request with a 502
    // (504 for a timeout) naming why; false when they are not (or not
    // there yet).
    bool answerInHttp(Reason reason, const QString &why);
    static bool looksLikeRequest(QByteArrayView start);

    RelayConnection &m_connection;
};
