#pragma once

#include "connectionrecord.h"
#include "httpconversation.h"
#include "httpproxyfront.h"
#include "pipepool.h"
#include "resolver.h"
#include "upstreampark.h"

#include <cstdint>
#include <memory>
#include <vector>

class Worker;

// One client connection and its upstream leg, relayed with non-blocking POSIX
// sockets on a worker's epoll set. Lives entirely on the worker's thread.
//
// What it keeps exact, and QTcpSocket does not: a FIN from one side is passed
// on as a shutdown of writing toward the other side while the other
// direction keeps flowing; a reset from one side is passed on as a reset
// (SO_LINGER 0) and recorded as one; at most one buffer of data is held per
// direction, and reading from a side stops while its data waits.
class RelayConnection
{
public:
    enum Side : std::uintptr_t { Client = 0, Upstream = 1 };

    RelayConnection(Worker &worker, quint64 id, int clientFd);
    ~RelayConnection();

    RelayConnection(const RelayConnection &) = delete;
    RelayConnection &operator=(const RelayConnection &) = delete;

    // Starts with the target's addresses (or the reason there are none).
    void begin();
    void resolved(const ResolveResult &result);
    // An epoll event; the tag's low bits (TagBits) say the side, and for
    // the upstream which of its sockets: an HTTP proxy replaces it, and an
    // event of the old one still in the batch must not be taken for the
    // new one's.
    static constexpr std::uintptr_t TagBits = 7;
    void handleEvent(std::uintptr_t tag, std::uint32_t events);
    // Continues reading a source that had more than one wake-up's worth.
    void pumpAgain(Side side);
    // Enforces the connect, idle and half-close timeouts.
    void checkTimeouts(qint64 nowMs);
    // Ends the connection now, closing both sides without a reset.
    void terminate(ConnectionRecord::CloseReason reason, const QString &why);

    bool isFinished() const { return m_finished; }
    quint64 id() const { return m_record.id; }
    ConnectionRecord snapshot() const;

    // Bookkeeping for the worker.
    size_t slot = 0;
    bool dirty = false;

private:
    struct Flow
    {
        Flow(Side source, Side destination) : from(source), to(destination) {}

        Side from;
        Side to;
        char *buffer = nullptr; // allocated only while data waits for the destination
        int head = 0;
        int tail = 0;
        PipePool::Pipe pipe;    // borrowed while spliced bytes wait in it
        int piped = 0;          // bytes in pipe
        bool bulk = false;      // a read filled the buffer: splice from now on
        bool eof = false;       // the source sent FIN
        bool shutDown = false;  // FIN passed on to the destination
        quint64 delivered = 0;

        bool pending() const { return tail > head || piped > 0; }
    };

    enum class Phase { Resolving, Connecting, Relaying, Finished };

    int &fd(Side side) { return side == Client ? m_clientFd : m_upstreamFd; }
    Flow &flowFrom(Side side) { return side == Client ? m_up : m_down; }
    Flow &flowTo(Side side) { return side == Client ? m_down : m_up; }

    // Looks the host up (at once for literals) and goes on in resolved().
    void resolve(const QString &host, quint16 port);
    void connectNext();
    void connectReady(std::uint32_t events);
    void noteConnectFailure(int error);
    void connected(std::uint32_t events);
    void failConnect(ConnectionRecord::CloseReason reason, const QString &why);

    void pump(Flow &flow);
    // One splice() round for a bulk flow: >0 moved, 0 EOF, -1 would block or
    // failed (then the connection may have finished), -2 no pipe to be had.
    int spliceOnce(Flow &flow, int capacity);
    bool drainPipe(Flow &flow); // false when the connection ended
    // Sends bytes from the source and keeps what the destination cannot
    // take yet; false when the connection ended.
    bool forward(Flow &flow, const char *data, int length);
    bool flush(Flow &flow);      // false when the connection ended
    bool sendOrFail(Flow &flow, const char *data, int length, int *sent);
    void sourceEnded(Flow &flow);
    void passOnFin(Flow &flow);
    void sideFailed(Side side, int error);
    void abort(Side culprit, ConnectionRecord::CloseReason reason, const QString &why);
    void uncountUnacknowledged(Side side);
    void finish(ConnectionRecord::CloseReason reason, const QString &why);
    void closeSide(Side side, bool reset);
    void watch(Side side);
    void freeBuffer(Flow &flow);
    void touched();

    // HTTP proxy mode: the front decides where the client's requests go.
    void handleProxyEvent(Side side, std::uint32_t events);
    void proxyReadClient();
    void proxyAdvance();
    void connectUpstream(const HttpProxyFront::Route &route, bool tunnel);
    void parkUpstream();
    bool resumeParked(const HttpProxyFront::Route &route);
    void dropUpstream();
    void upstreamEndedUnderFront();
    bool upstreamFailedUnderFront(int error);
    void answerClient();
    void closeClientWhenFlushed(ConnectionRecord::CloseReason reason);
    void becomeByteRelay(const QByteArray &early);
    bool deliverToClient(const QByteArray &bytes);
    bool isOwnListener(const SocketAddress &address) const;
    void refuseClient();
    // Shows the capture a copy of what a source sent; true while it wants
    // to see that direction at all.
    void observe(const Flow &flow, const char *data, qsizetype size);
    bool captureWants(const Flow &flow) const;
    void finishCapture();
    void collectExchanges(); // the capture's news into the record and the worker

    Worker &m_worker;
    int m_clientFd = -1;
    int m_upstreamFd = -1;
    std::uintptr_t m_upstreamGeneration = 0; // of m_upstreamFd, modulo 4
    Phase m_phase = Phase::Resolving;
    bool m_finished = false;
    Flow m_up{Client, Upstream};
    Flow m_down{Upstream, Client};
    Side m_firstFin = Client;
    bool m_anyFin = false;

    std::vector<SocketAddress> m_addresses;
    size_t m_nextAddress = 0;
    QString m_connectErrors;
    qint64 m_startedMs = 0;     // monotonic
    qint64 m_lastActivityMs = 0;

    ConnectionRecord m_record;
    std::unique_ptr<HttpConversation> m_capture;

    std::unique_ptr<HttpProxyFront> m_front;
    bool m_tunnelConnect = false;   // the upstream being reached is for CONNECT
    bool m_closingClient = false;   // FIN to the client is due; its input is discarded
    bool m_clientThrottled = false; // reading stopped while the front held enough
    UpstreamPark m_parked;
    ConnectionRecord::CloseReason m_endReason = ConnectionRecord::CloseReason::ClientFin;
};
