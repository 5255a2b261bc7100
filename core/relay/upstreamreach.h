#pragma once

#include "connectionlife.h"
#include "resolver.h"
#include "upstreamconnector.h"

#include <QString>

#include <cstdint>
#include <memory>

class ConnectionTls;
class TcpLeg;
class TlsLeg;
struct ConnectionRecord;

// One connection's way to its upstream: a connect held on purpose (a
// condition's connect delay, the first time only), the lookup, each
// address in turn (UpstreamConnector), the time each part took and the
// marks on the upstream's lane. Each call returns an Outcome saying what
// to do next; the connection does it (looks the name up, lets its policy
// see the addresses, watches the socket, starts TLS, fails the connect).
// It calls no one. On the connection's worker thread. What a reach in
// progress keeps (the addresses, each one's failure, the name looked up) is
// made by start() and let go once the upstream is connected: a connection
// that is relaying carries none of it.
class UpstreamReach
{
public:
    enum class Next : quint8 {
        Wait,      // until the hold ends (Outcome::heldUntilUs), or the socket's events come
        LookUp,    // host() needs a lookup off the worker's thread: come back with resolved()
        Resolved,  // resolution() is there for the policy to see; then connect()
        Watch,     // a new socket connects: watch it, and come back with ready()
        Connected, // the leg is connected (on a new socket when newSocket)
        Secured,   // connected, and TLS started over it: leg stands in for the socket; its handshake runs
        Failed,    // why: nothing more to try
    };
    struct Outcome
    {
        Next next = Next::Wait;
        bool newSocket = false;       // Connected at once: the socket is new, and unwatched
        bool outOfDescriptors = false; // Failed for want of a descriptor (EMFILE, ENFILE)
        std::uint32_t events = 0;     // Connected: the socket's events, if they came with it
        qint64 heldUntilUs = -1;      // Wait for a hold: monotonic
        QString why;                  // Failed
        TlsLeg *leg = nullptr;        // Secured
    };

    // leg: the upstream's TCP leg; tls: the connection's, which starts
    // TLS over it when asked to. The record's upstream names it in the
    // reasons; its timeline gets the lookup's and the connects' time.
    UpstreamReach(TcpLeg &leg, ConnectionLife &life, ConnectionRecord &record, ConnectionTls &tls);

    // The first connect waits this long (µs) from when it is asked for.
    void holdFirstConnect(qint64 us) { m_holdUs = us; }
    // Reaching host starts; with tls, TLS is to be spoken to it, checked
    // for host (tlsHost()). nowUs: monotonic.
    Outcome start(const QString &host, quint16 port, bool tls, qint64 nowUs);
    // The hold ended: what start() would have done (the record's state
    // says Resolving from then on).
    Outcome holdOver(qint64 nowUs);
    // The lookup's answer.
    Outcome resolved(const ResolveResult &result);
    // After Resolved: the addresses are tried, from the first (the
    // record says Connecting).
    Outcome connect();
    // The connecting socket's epoll events.
    Outcome ready(std::uint32_t events);
    // The upstream leg goes over fd, a parked socket already connected to
    // address: the leg must be closed.
    void adopt(int fd, const QString &address);
    // The connect (or the upstream's TLS handshake) took too long: the
    // reason, with each address's failure; the clock stops and the
    // timeout is marked.
    QString timedOut(int timeoutMs, bool handshaking);

    // Between start() and the connect's end.
    const QString &host() const { return m_trying->host; }
    quint16 port() const { return m_trying->port; }
    const ResolveResult &resolution() const { return m_trying->resolution; }
    // The name TLS is to be checked for once connected; empty: no TLS, or
    // no reach in progress.
    QString tlsHost() const { return m_trying ? m_trying->tlsHost : QString(); }
    // TLS toward the connected upstream, as host: Secured, or Failed.
    Outcome secure(const QString &host);

private:
    Outcome lookUp();
    Outcome attempt(UpstreamConnector::Attempt attempt);
    Outcome connected(std::uint32_t events, bool newSocket);
    void stopClock(qint64 nowUs);
    // The local address of the upstream leg, for the record (pcapng shows it).
    void noteFrom();

    // One reach in progress.
    struct Trying
    {
        UpstreamConnector connector;
        ResolveResult resolution;
        QString host;
        QString tlsHost; // TLS to be spoken once connected, checked for this name
        quint16 port = 0;
        qint64 lookUpStartUs = -1;
    };

    TcpLeg &m_leg;
    ConnectionLife &m_life;
    ConnectionRecord &m_record;
    ConnectionTls &m_secure;
    std::unique_ptr<Trying> m_trying;
    qint64 m_holdUs = 0;
};
