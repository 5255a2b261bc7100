#pragma once

#include "connectionlife.h"
#include "connectionrecord.h"
#include "tlsleg.h"

#include <QString>

#include <memory>

class TcpLeg;
struct ClientHello;
class TlsClientContext;
class TlsInterception;
class TlsServerContext;

// The TLS of one connection's two legs: proxymon's server end toward an
// intercepted client and its client end toward the upstream, each a TlsLeg
// over the connection's TCP leg, their handshakes, and the record's words
// for them (its TLS details, the decryption's outcome, the handshakes'
// marks on the timeline). Each call returns what came of it; the connection
// puts the new legs under its flows and decides what follows.
class ConnectionTls
{
public:
    // upstream: the worker's context toward TLS upstreams (null: none);
    // interception: its switches, told of clients that reject proxymon's
    // certificate (null: no decryption).
    ConnectionTls(ConnectionRecord &record, ConnectionLife &life, const TlsClientContext *upstream,
                  TlsInterception *interception);

    using Step = TlsLeg::Handshake;

    // What came of moving the handshakes on.
    struct Progress
    {
        enum class Next {
            Pending,  // a handshake waits for its socket
            Ready,    // both are done: bytes may flow
            Failed,   // the upstream's TLS failed (why), told to the client over its TLS if it has one
            Rejected, // the client's TLS failed (why): it did not take proxymon's certificate
        };
        Next next = Next::Pending;
        QString why;
    };

    // TLS toward the upstream over tcp's socket (tcp is left closed),
    // asking for host, checked unless interception lists it as insecure;
    // null when no session can start (nothing changed then).
    TlsLeg *startUpstream(TcpLeg &tcp, const QString &host, qint64 nowMs);
    // TLS with the client over tcp's socket, with a certificate of
    // server's for name (tcp is left closed); hello: the bytes the client
    // sent so far, parsed. What finishes is recorded as decrypted. Null,
    // with why, when no certificate can be had; nothing changed then.
    TlsLeg *startClient(TcpLeg &tcp, const TlsServerContext &server, const QByteArray &hello, const ClientHello &parsed,
                        const QString &name, qint64 nowMs, QString *why);
    // Moves on each handshake that runs. An upstream's failure while the
    // client's handshake still runs is told once the client's TLS is up
    // (in HTTP, which it can read only over its TLS). Failed says what the
    // user can do about an upstream certificate it did not trust
    Progress advance(qint64 nowMs);
    bool handshaking() const { return m_clientHandshaking || m_upstreamHandshaking; }
    // The upstream leg is closing: its TLS is handed back to be freed once
    // the flows no longer use it.
    std::unique_ptr<TlsLeg> takeUpstream() { return std::move(m_upstream); }

    TlsLeg *client() const { return m_client.get(); }
    bool intercepted() const { return m_client != nullptr; }
    TlsLeg *upstream() const { return m_upstream.get(); }
    bool clientHandshaking() const { return m_clientHandshaking; }
    bool upstreamHandshaking() const { return m_upstreamHandshaking; }
    qint64 handshakeStartedMs() const { return m_handshakeStartedMs; }
    // The client did not take proxymon's certificate: recorded, with why,
    // and its host passes through from now on. Returns the connection's
    // reason to end.
    QString rejected(const QString &why);
    // A decrypted client that left right after its handshake without
    // sending a byte (how: "closed the connection") probably did not trust
    // proxymon's certificate: rejected(), and true. False when it had
    // merely nothing to say.
    bool leftSilently(const QString &how, bool anyByte, qint64 nowMs);
    // The record's words for side's leg failing with error (errno): a TLS
    // leg's failure says what OpenSSL said.
    QString failure(Flow::Side side, int error) const;
    // A TLS side that ended without close_notify: the other TLS side will
    // end the same way (a bare FIN).
    void mirrorTruncation();
    // A snapshot's counts as on the wire (what a TLS leg wrote counts in
    // records, not plaintext: the flows delivered up and down) and whether
    // a TLS side ended truncated.
    void fillWire(ConnectionRecord *snapshot, quint64 up, quint64 down) const;

private:
    // A handshake finished: the timeline's mark on side's lane.
    void done(Flow::Side side, const TlsDetails &details);
    Step stepUpstream(bool verifies, qint64 nowMs, TlsDetails *details, QString *why);
    Step stepClient(qint64 nowMs, TlsDetails *details, QString *why);
    TlsDetails details(const TlsLeg &leg, const QString &serverName, qint64 nowMs) const;

    ConnectionRecord &m_record;
    ConnectionLife &m_life;
    const TlsClientContext *const m_context;
    TlsInterception *const m_interception;
    std::unique_ptr<TlsLeg> m_client;   // over the client's socket, once intercepted
    std::unique_ptr<TlsLeg> m_upstream; // over the upstream's socket, once TLS is spoken
    // The names a TLS leg goes by, made when the first starts: a plain
    // connection carries none of them.
    struct Names
    {
        QString client;       // what the intercepted client asked for
        QString clientServer; // the server name in its hello
        QString upstreamHost;
        QString upstreamFailure;
    };
    Names &names();

    std::unique_ptr<Names> m_names;
    bool m_clientHandshaking = false;
    bool m_upstreamHandshaking = false;
    qint64 m_handshakeStartedMs = 0;
    qint64 m_clientReadyMs = 0;         // the client's handshake finished
};
