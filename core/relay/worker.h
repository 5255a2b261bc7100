#pragma once

#include "connectionrecord.h"
#include "flow.h"
#include "httpexchange.h"
#include "pipepool.h"
#include "proxyconfig.h"
#include "timerheap.h"

#include <QList>
#include <QMutex>
#include <QRunnable>

#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <unordered_map>
#include <vector>

class HttpConversation;
class TlsClientContext;
class TlsInterception;
class RelayConnection;
class Resolver;
struct SocketAddress;
class WorkerInbox;

// A long-lived job on the server's dedicated pool. It runs an epoll loop that
// relays many connections; everything about a connection it adopts stays on
// this worker's thread until the connection ends. Other threads reach it only
// through its inbox (descriptors, lookup answers, stop) and takeReports().
//
// epoll rather than Qt's event dispatcher: Qt waits with poll() over every
// registered notifier, so its cost per wake-up grows with the number of
// connections; epoll's grows with the number of ready ones.
class Worker : public QRunnable
{
public:
    struct Hooks
    {
        std::function<void()> connectionEnded; // worker thread, once per adopted descriptor
        std::function<void()> finished;        // worker thread, last thing run() does
        std::function<void()> descriptorsExhausted; // worker thread
    };

    // How the worker speaks TLS, shared by all of them.
    struct Tls
    {
        std::shared_ptr<const TlsClientContext> upstream; // toward upstreams
        std::shared_ptr<TlsInterception> interception;    // which connections to decrypt, and how
    };

    Worker(int index, const ProxyConfig &config, Resolver *resolver, Tls tls, Hooks hooks);
    ~Worker() override;

    void run() override;
    // errno of what failed when the worker was made (its epoll set), or 0:
    // a worker that failed must not be started.
    int setupError() const { return m_setupError; }

    std::shared_ptr<WorkerInbox> inbox() const { return m_inbox; }
    // Connections handed to this worker that have not ended: counted when
    // posted, not when adopted, so that a burst posted before the worker
    // wakes is spread over the workers instead of all going to the first.
    int load() const { return m_load.load(std::memory_order_relaxed); }
    void postAccepted(int descriptor, quint64 id, const SocketAddress &peer);

    // Any thread: the records that changed since the last call, and the
    // exchanges finished meanwhile.
    // Both are taken at once so that a batch never holds a connection's
    // exchanges without its records, or the other way round. Each
    // connection is in the records once, as its latest snapshot.
    void takeReports(QList<ConnectionRecord> *records, QList<HttpExchange> *exchanges);

    // Used by RelayConnection, on the worker thread.
    const ProxyConfig &config() const { return m_config; }
    // Where clients reach proxymon, "IP:PORT"; empty when it listens on a
    // wildcard address (each connection then asks its socket).
    const QString &listenText() const { return m_listenText; }
    // The config's, made once: each connection's record shares it.
    const QString &targetText() const { return m_targetText; }
    int epollDescriptor() const { return m_epollFd; }
    char *scratch() { return m_scratch.data(); }
    const Flow::Shared &flowShared() const { return m_flowShared; }
    const TlsClientContext *upstreamTls() const { return m_tls.upstream.get(); }
    const Tls &tls() const { return m_tls; }
    qint64 nowMs() const { return m_nowMs; }
    qint64 wakeUs() const { return m_wakeUs; } // monotonic, as of this wake-up
    qint64 wallMs() const { return m_wallMs; } // since the epoch, as of this wake-up
    TimerHeap &timers() { return m_timers; }
    // The conditions and faults in force (the configuration's, until a
    // reload).
    const RuleSet &rules() const { return *m_rules; }
    // Worker thread: new rules, for the connections to come and (their
    // conditions) the live ones.
    void setRules(std::shared_ptr<const RuleSet> rules);
    // Draws for the rules' probabilities and the shapers' jitter.
    std::mt19937 &random() { return m_random; }
    void markDirty(RelayConnection *connection);
    void lookUp(RelayConnection *connection, const QString &host, quint16 port);
    void connectionFinished(RelayConnection *connection);
    // Takes the conversation's finished exchanges for the next publish.
    void exchangesFinished(HttpConversation &conversation);
    void descriptorsExhausted()
    {
        if (m_hooks.descriptorsExhausted)
            m_hooks.descriptorsExhausted();
    }
    // Reads more from a source once the other ready connections had a turn.
    void pumpLater(RelayConnection *connection, int side);
    // Worker thread: the live connection with this id, or null.
    RelayConnection *connection(quint64 id) const;

private:
    void adopt(int descriptor, quint64 id, const SocketAddress &peer);
    void drainInbox();
    void tick();
    void publish();
    void closeAll(ConnectionRecord::CloseReason reason, const QString &why);
    void updateNow();

    const int m_index;
    const ProxyConfig m_config;
    Resolver *const m_resolver;
    const Tls m_tls;
    const Hooks m_hooks;
    const std::shared_ptr<WorkerInbox> m_inbox;
    const QString m_listenText;
    const QString m_targetText;

    int m_epollFd = -1;
    int m_setupError = 0;
    qint64 m_nowMs = 0;
    qint64 m_wakeUs = 0;
    qint64 m_wallMs = 0;
    qint64 m_nextSweepMs = 0;
    std::vector<char> m_scratch;
    PipePool m_pipes;
    TimerHeap m_timers;
    std::mt19937 m_random;
    std::shared_ptr<const RuleSet> m_rules;
    Flow::Shared m_flowShared;
    std::vector<RelayConnection *> m_connections; // indexed by RelayConnection::slot()
    std::vector<RelayConnection *> m_dirty;
    std::vector<RelayConnection *> m_finished;    // freed after the current batch of events
    std::vector<std::pair<RelayConnection *, int>> m_again;
    std::unordered_map<quint64, RelayConnection *> m_resolving;
    QList<ConnectionRecord> m_closedRecords;
    QList<HttpExchange> m_exchanges;
    bool m_stopping = false;
    qint64 m_stopDeadlineMs = 0;
    std::atomic<int> m_load{0};

    QMutex m_outboxMutex;
    QList<ConnectionRecord> m_outbox;
    int m_outboxReports = 0; // publish() calls whose records are in m_outbox
    QList<HttpExchange> m_exchangeOutbox;
};
