#pragma once

#include "connectionrecord.h"
#include "decryptionsetup.h"
#include "faultaction.h"
#include "heaptrim.h"
#include "httpexchange.h"
#include "proxyconfig.h"
#include "worker.h"

#include <QHostAddress>
#include <QList>
#include <QObject>
#include <QTimer>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

class CaPage;
class CertificateAuthority;
class Listener;
struct SocketAddress;
class QThreadPool;
class TlsInterception;
class TlsKeyLog;
class Resolver;
class Worker;

// The forwarding engine. Accepts on a QTcpServer in its own thread (the GUI
// thread in the app) and relays on a few long-lived workers from a dedicated
// pool. Observers get ConnectionRecord batches on a 50 ms clock.
class ProxyServer : public QObject
{
    Q_OBJECT
public:
    explicit ProxyServer(QObject *parent = nullptr);
    ~ProxyServer() override; // ends everything at once and waits for the workers

    // Starts the server behind the target builtin:echo and returns its
    // port, or 0 with *error. The lab's echo server is given by whoever
    // makes the server (BuiltinEcho::starter()), so that the relay does not
    // link the lab; without one, that target is refused.
    using EchoStarter = std::function<quint16(QString *error)>;
    void setEchoStarter(EchoStarter starter) { m_echo = std::move(starter); }

    // Starts listening. Returns false and sets errorString() when the
    // configuration is invalid or the address cannot be bound; nothing is
    // left listening then.
    bool start(const ProxyConfig &config);

    // Closes the listener at once; live connections get the configured grace
    // and are then closed as "stopped". stopped() follows when all have ended.
    void stop();

    bool isListening() const;
    bool isDraining() const { return !m_generations.empty(); }
    QString errorString() const { return m_errorString; }
    QHostAddress listenAddress() const;
    quint16 listenPort() const;
    ProxyConfig config() const { return m_config; }
    int liveConnections() const;
    quint64 acceptedConnections() const { return m_nextId - 1; }
    // Which TLS connections are decrypted: lists the window and the
    // workers share, kept from one start to the next.
    TlsInterception &interception() const { return *m_decryption.interception(); }
    // Decryption on or off for the connections to come (the toolbar's
    // toggle); turning it on makes the authority if need be.
    void setDecryption(bool on);
    // Closes one live connection at once (both sides), recorded as stopped
    // "closed by the user"; nothing when it has ended.
    void closeConnection(quint64 id);
    // The conditions and faults from now on: conditions apply to the live
    // connections as well, faults to the connections accepted from now on.
    void setRules(const RuleSet &rules);
    // Does action to one live connection (reset it, stall a direction...),
    // recorded on its timeline with by (who asked: "by the user"); nothing
    // when it has ended.
    void act(quint64 id, const FaultAction &action, const QString &by);
    // proxymon's CA certificate (PEM), once a start has made or loaded it;
    // empty before.
    QString authorityCertificatePath() const;

signals:
    // All signals are emitted on the server's thread.
    // Records that changed since the last batch, one per connection, each a
    // full snapshot. A connection's last record has state Closed.
    void connectionsUpdated(const QList<ConnectionRecord> &records);
    // The same batch with the HTTP exchanges that finished in it, for
    // observers that need both in order (a connection's exchanges come
    // between its first record and its closing one).
    void published(const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges);
    void listeningChanged(bool listening);
    // The listener is closed and every connection has ended.
    void stopped();
    // Something the user should know that is not an error of one
    // connection: accepting paused at the limit or for lack of descriptors.
    void notice(const QString &message);
    // The passthrough, rejection or insecure-host lists changed (a client
    // rejected proxymon's certificate, most often); in the next batch.
    void interceptionChanged();

private:
    struct Generation;
    struct Gate;

    // A listener on config's address, its signals connected; null with
    // the reason.
    Listener *listen(const ProxyConfig &config, QString *error);
    // The refuse faults of the rules in force, timed from now.
    void scheduleRefusals();
    void refuseFor(int milliseconds, const QString &by);
    void listenAgain();
    void onDescriptorAccepted(qintptr descriptor, const SocketAddress &peer);
    void onAcceptError();
    void resumeAccepting();
    void publish();
    bool startTls(const ProxyConfig &config, Worker::Tls *tls);
    // The authority or its absence is known: the CA page offers it, and
    // the user is told when TLS will be relayed unread.
    void decryptionPrepared();
    void workerFinished(Generation *generation);

    ProxyConfig m_config;
    QString m_errorString;
    Listener *m_listener = nullptr;
    std::unique_ptr<Resolver> m_resolver;
    EchoStarter m_echo; // the target builtin:echo, when it is given
    CaPage *m_caPage = nullptr;          // http://proxymon.test/, in HTTP proxy mode
    DecryptionSetup m_decryption;
    std::shared_ptr<Gate> m_gate;
    std::vector<std::unique_ptr<Generation>> m_generations; // the current one last
    Generation *m_current = nullptr;
    QTimer m_publishTimer;
    HeapTrim m_heapTrim; // after a burst, the freed batches go back to the system
    Worker *m_wakeUpTarget = nullptr; // where this wake-up of the listener's connections go
    QTimer m_resumeTimer;
    QList<QTimer *> m_refusalTimers; // a refuse fault's start each
    QTimer m_refusalEnd;
    bool m_refusing = false;         // the listening socket is closed for a while
    int m_backoffMs = 100;
    long m_descriptorLimit = 0;     // soft RLIMIT_NOFILE after raising it
    bool m_pausedAtLimit = false;
    quint64 m_nextId = 1;
};
