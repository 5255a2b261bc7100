#pragma once

#include "sessionpolicy.h"

#include <QByteArrayView>

class RelayConnection;

// Forwarding: one upstream, reached once, and every byte relayed exactly
// between it and the client, FINs and resets included. Also what an HTTP
// proxy's connection becomes after CONNECT or a protocol upgrade.
//
// Before relaying it looks at the client's first bytes: a TLS ClientHello
// that proxymon may decrypt makes the connection an intercepted one (the
// client's TLS ended with proxymon's certificate, TLS spoken to the
// upstream, plaintext between); anything else is relayed as it came. An
// upstream that speaks first (SMTP, SSH, MySQL) ends the looking at once.
class ForwardingPolicy final : public SessionPolicy
{
public:
    explicit ForwardingPolicy(RelayConnection &connection);

    // The upstream is connected already (an HTTP proxy's CONNECT): looks
    // for a ClientHello to decrypt, the client's bytes read so far (early)
    // first; host names the upstream. With plainUpstream the upstream
    // speaks plain HTTP behind the decrypted TLS (proxymon's own page).
    void takeOverTunnel(const QString &host, const QByteArray &early, bool plainUpstream = false);

    void begin() override;
    void refuse(const QString &why) override;
    void connected(std::uint32_t events) override;
    void connectFailed(Reason reason, const QString &why) override;
    void handleEvent(Side side, std::uint32_t events) override;
    void pumpAgain(Side side) override;
    void flowEnded(Flow &flow) override;
    void finDue(Flow &flow) override;
    bool sideFailed(Side side, int error) override;

private:
    // Reads the client's first bytes until they prove to be a ClientHello
    // or not.
    void sniff();
    // Not TLS, or not to be decrypted: relays what was read (first, when
    // it is the client's first read and still where it was read, with
    // clientEmpty when that read proved the client empty; else what
    // sniff() kept), then the rest.
    void relayAsIs(QByteArrayView first = QByteArrayView(), bool clientEmpty = false);
    void decide(const struct ClientHello &hello);
    // The upstream failed behind an intercepted client: answers its first
    // request (once it came) in HTTP, over its TLS.
    void answerFailure();
    // Answers a client whose first bytes are an HTTP request with a 502
    // (504 for a timeout) naming why; false when they are not (or not
    // there yet).
    bool answerInHttp(Reason reason, const QString &why);
    static bool looksLikeRequest(QByteArrayView start);

    RelayConnection &m_connection;
    QString m_sniffHost;    // set while looking for a ClientHello: the upstream's name
    QByteArray m_sniffed;   // the client's bytes read meanwhile
    qsizetype m_shown = 0;  // how many of them the capture has seen
    bool m_sniffing = false;
    bool m_plainUpstream = false;
    bool m_failed = false;  // answerFailure() waits for the request
    Reason m_failure = Reason::Error;
    QString m_failureWhy;
};
