#pragma once

#include <QList>
#include <QMetaType>
#include <QString>

#include <memory>

#include "connectiontimeline.h"

// One leg's TLS, as its handshake left it. Empty while none was spoken.
struct TlsDetails
{
    QString version;        // "TLSv1.3"
    QString cipher;         // "TLS_AES_256_GCM_SHA384"
    QString alpn;           // the application protocol agreed, if any
    QString serverName;     // SNI: what the client asked for / what proxymon asked the upstream for
    qint32 handshakeMs = -1;
    // The upstream leg: "ok", or OpenSSL's words for what failed the check
    // (also when it was relayed unchecked on purpose); empty for clients.
    QString verification;
    QByteArray chainPem;    // the upstream's certificates, leaf first

    bool isEmpty() const { return version.isEmpty(); }
    // "TLSv1.3 TLS_AES_256_GCM_SHA384"
    QString summary() const { return isEmpty() ? QString() : version + QLatin1Char(' ') + cipher; }
};

// One read of a raw connection's kept first bytes: the conversation view
// puts the two directions back in the order they crossed.
struct RawRead
{
    qint64 atUs = 0; // since the connection was accepted (the worker's wake-up)
    qint32 bytes = 0;
    bool fromClient = true;
};

// One proxied connection as observers see it. A plain value: workers build
// snapshots of it and the core hands lists of them across threads.
struct ConnectionRecord
{
    enum class State : quint8 {
        Resolving,          // looking up the target's host name
        Connecting,         // connecting to the upstream
        Open,               // both directions relay
        ClientHalfClosed,   // the client sent FIN; upstream->client still relays
        UpstreamHalfClosed, // the upstream sent FIN; client->upstream still relays
        Closed,
    };

    // How a connection ended. The first side to end it decides.
    enum class CloseReason : quint8 {
        None,          // still open
        ClientFin,
        UpstreamFin,
        ClientReset,
        UpstreamReset,
        Error,         // see error; includes refused, unreachable, unknown host
        Timeout,       // connect, idle or half-closed timeout; see error
        Stopped,       // the proxy was stopped while it was open
        Fault,         // ended on purpose (a reset or close from the row menu or a fault rule); see error
    };

    quint64 id = 0;
    QString client;          // "IP:PORT" of the client
    QString upstream;        // the target as configured, "HOST:PORT"
    QString upstreamAddress; // the address actually connected to, once known
    QString acceptedOn;      // proxymon's end of the client's connection, "IP:PORT"
    QString upstreamFrom;    // proxymon's end of the upstream connection, once connected
    // Whether proxymon read inside the client's TLS.
    enum class Decryption : quint8 {
        None,        // the client did not speak TLS (or proxymon did not look)
        Decrypted,   // proxymon ended the client's TLS with its own certificate
        Passthrough, // TLS relayed unread; decryptionNote says why
        Rejected,    // the client refused proxymon's certificate; decryptionNote in words
    };
    Decryption decryption = Decryption::None;
    QString decryptionNote;
    bool tlsTruncated = false; // a TLS stream ended without close_notify (passed on as a FIN)
    qint64 openedMs = 0;     // milliseconds since the epoch, UTC
    qint64 closedMs = 0;     // 0 while open
    quint64 bytesUp = 0;     // client -> upstream, bytes delivered (on the wire: TLS records count whole)
    quint64 bytesDown = 0;   // upstream -> client, bytes delivered
    quint32 requests = 0;    // HTTP requests seen so far
    bool raw = false;        // not HTTP: only the first bytes each way are kept
    bool httpProxy = false;  // HTTP proxy mode: each request names its upstream
    QByteArray clientPrefix;   // raw connections: the first bytes from the client
    QByteArray upstreamPrefix; // and from the upstream (up to rawPrefixBytes each, 64 KiB by default)
    QList<RawRead> rawReads;   // the reads that brought the prefixes, in order
    bool rawReadsCut = false;  // reads past MaxRawReads were not kept one by one
    static constexpr int MaxRawReads = 4096;
    // What is done to its traffic now, if anything: conditions, stalls,
    // black holes, limits ("down 1MB/s, 100ms; up stalled").
    QString conditions;
    State state = State::Resolving;
    CloseReason closeReason = CloseReason::None;
    QString error;           // words for Error and Timeout
    ConnectionTimeline timeline; // its life on both legs, as the worker timed it

    // The TLS of the client leg (when proxymon spoke TLS with the client)
    // and of the upstream leg; empty while none was spoken. Kept out of
    // line and shared between copies: most connections speak none, and a
    // record is copied at every batch a worker publishes.
    const TlsDetails &clientTls() const;
    const TlsDetails &upstreamTls() const;
    // Written in place; a record sharing them with a copy gets its own first.
    TlsDetails &clientTlsToWrite() { return tlsToWrite().client; }
    TlsDetails &upstreamTlsToWrite() { return tlsToWrite().upstream; }
    // Set whole; setting an empty one to a record without TLS keeps none.
    void setClientTls(const TlsDetails &details);
    void setUpstreamTls(const TlsDetails &details);

    bool isClosed() const { return state == State::Closed; }
    // The connection's own time (µs since it was accepted, as its timeline
    // counts) at a wall-clock instant; a closed one's stays at its end.
    qint64 ageUs(qint64 msSinceEpoch) const;

    // Stable lower-case names, used by the JSONL stream and docs/headless.md.
    static QString closeReasonName(CloseReason reason);
    static QString stateName(State state);
    static QString decryptionName(Decryption decryption);

private:
    struct TlsLegs
    {
        TlsDetails client;
        TlsDetails upstream;
    };
    TlsLegs &tlsToWrite();

    std::shared_ptr<TlsLegs> m_tls; // null: neither leg spoke TLS
};

// Implicitly shared Qt members and plain values only: a list of thousands of
// records grows and inserts by moving memory instead of copying each one.
Q_DECLARE_TYPEINFO(TlsDetails, Q_RELOCATABLE_TYPE);
Q_DECLARE_TYPEINFO(RawRead, Q_PRIMITIVE_TYPE);
Q_DECLARE_TYPEINFO(ConnectionRecord, Q_RELOCATABLE_TYPE);
Q_DECLARE_METATYPE(ConnectionRecord)
Q_DECLARE_METATYPE(QList<ConnectionRecord>)
