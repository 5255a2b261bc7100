#pragma once

#include <QString>

struct ProxyConfig;

// A connection's timeouts, as the worker's tick checks them: reaching the
// upstream (the lookup, each connect, the upstream's TLS handshake) and the
// client's TLS handshake each within the connect timeout, counted from when
// they began; no byte moved for the idle timeout, or for the half-close
// timeout once either side sent its FIN. A value: it says what expired,
// and the connection acts. Times are the worker's monotonic ms.
class ConnectionDeadlines
{
public:
    enum class Expired { Nothing, ClientHandshake, Reaching, HalfClosed, Idle };
    // What the connection is waiting for now.
    struct Waiting
    {
        bool clientHandshake = false;
        qint64 clientHandshakeSinceMs = 0;
        bool reaching = false; // an upstream: its lookup, its connects or its TLS handshake
        bool halfClosed = false;
    };

    explicit ConnectionDeadlines(qint64 nowMs) : m_reachingSinceMs(nowMs), m_activeMs(nowMs) {}

    // Reaching begins at ms (later than now for a connect held on purpose).
    void reachingFrom(qint64 ms) { m_reachingSinceMs = ms; }
    // Bytes moved, or the connection moved on.
    void touched(qint64 nowMs) { m_activeMs = nowMs; }
    Expired check(qint64 nowMs, const ProxyConfig &config, const Waiting &waiting) const;
    // The timeline's note for what expired and the record's reason; not
    // for Reaching, which UpstreamReach words with what each address said.
    static QString note(Expired expired);
    static QString why(Expired expired, const ProxyConfig &config);

private:
    qint64 m_reachingSinceMs;
    qint64 m_activeMs;
};
