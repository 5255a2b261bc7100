#pragma once

#include "socketaddress.h"

#include <QString>

#include <cstdint>
#include <vector>

class TcpLeg;

// Reaches a server over TCP: each of its addresses in turn, without
// blocking, until one connects. It makes each attempt's socket, attaches
// it to the leg it is given and calls connect(); the caller watches the
// leg's descriptor and brings back its events. Every call returns what
// happened to one attempt, as a value: the caller marks it, watches, or
// moves on; the connector calls no one. It also keeps what the record
// needs: the time spent connecting and why each address failed. One
// connector reaches one server.
class UpstreamConnector
{
public:
    enum class Result : quint8 {
        InProgress, // the socket is connecting: watch it, and come back with its events
        Connected,  // the leg is connected
        Failed,     // this address failed (error); the leg is closed: try the next
        NoSocket,   // no socket could be made (error); EMFILE and ENFILE mean out of descriptors
        Exhausted,  // every address was tried and failed
    };
    struct Attempt
    {
        Result result = Result::Exhausted;
        int error = 0;
        qint64 atUs = 0; // monotonic: when it started (a connect), or ended
    };

    // The addresses to try, in order, from the first.
    void setAddresses(std::vector<SocketAddress> addresses);
    // The next address's attempt, on a new socket attached to leg (which
    // must be closed).
    Attempt next(TcpLeg &leg);
    // The connecting socket's epoll events: InProgress while they say
    // nothing yet, else Connected or Failed.
    Attempt ready(TcpLeg &leg, std::uint32_t events);
    // The address of the latest attempt, as text ("127.0.0.1:80").
    const QString &address() const { return m_address; }
    // Each failed address with why: "127.0.0.1:81: Connection refused; ...".
    const QString &errors() const { return m_errors; }
    // Stops the clock of the attempts (at nowUs, monotonic) and returns
    // the time they took since it last stopped, or -1 when it was not
    // running.
    qint64 stopClock(qint64 nowUs);

private:
    Attempt failed(TcpLeg &leg, int error, qint64 nowUs);

    std::vector<SocketAddress> m_addresses;
    size_t m_next = 0;
    QString m_address;
    QString m_errors;
    qint64 m_clockStartUs = -1;
};
