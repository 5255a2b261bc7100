#include "proxyserver.h"

#include "capage.h"
#include "descriptorlimit.h"
#include "endpoint.h"
#include "listener.h"
#include "monotonicclock.h"
#include "relayconnection.h"
#include "resolver.h"
#include "systemerror.h"
#include "tlsclientcontext.h"
#include "tlsinterception.h"
#include "worker.h"
#include "workerinbox.h"

#include <QDir>
#include <QRandomGenerator>
#include <QThread>
#include <QThreadPool>

#include <unistd.h>

#include <limits>
#include <csignal>
#include <vector>

namespace {

constexpr int PublishIntervalMs = 50;
constexpr int FirstBackoffMs = 100;
constexpr int LongestBackoffMs = 1600;

int openDescriptors()
{
    return int(QDir(QStringLiteral("/proc/self/fd")).entryList(QDir::Files | QDir::System | QDir::NoDotAndDotDot).size());
}

} // namespace

// Shared with the workers, which decrement the count from their threads.
struct ProxyServer::Gate
{
    std::atomic<int> live{0};
    std::atomic<bool> paused{false};
    int limit = 1;
};

// One start's set of workers. A stopped generation drains on its own while a
// new start may already be running the next one.
struct ProxyServer::Generation
{
    QThreadPool pool;
    std::vector<std::unique_ptr<Worker>> workers;
    int running = 0;

    ~Generation()
    {
        for (const auto &worker : workers)
            worker->inbox()->postStop(0);
        pool.waitForDone();
    }
};

ProxyServer::ProxyServer(QObject *parent)
    : QObject(parent)
    , m_resolver(std::make_unique<Resolver>())
{
    // splice() to a socket whose peer has gone raises SIGPIPE, and unlike
    // send() it has no flag to prevent that; the error return is all the
    // workers need.
    std::signal(SIGPIPE, SIG_IGN);
    qRegisterMetaType<ConnectionRecord>();
    qRegisterMetaType<QList<ConnectionRecord>>();
    qRegisterMetaType<HttpExchange>();
    qRegisterMetaType<QList<HttpExchange>>();
    m_publishTimer.setInterval(PublishIntervalMs);
    connect(&m_publishTimer, &QTimer::timeout, this, &ProxyServer::publish);
    m_refusalEnd.setSingleShot(true);
    connect(&m_refusalEnd, &QTimer::timeout, this, &ProxyServer::listenAgain);
    m_resumeTimer.setSingleShot(true);
    connect(&m_resumeTimer, &QTimer::timeout, this, [this] {
        if (m_listener && !m_pausedAtLimit)
            m_listener->resume();
    });
}

ProxyServer::~ProxyServer()
{
    delete m_listener;
    m_listener = nullptr;
    m_generations.clear();
    m_resolver.reset();
}

bool ProxyServer::isListening() const
{
    // A refusal is part of running: the port is still the proxy's.
    return (m_listener && m_listener->isListening()) || m_refusing;
}

QHostAddress ProxyServer::listenAddress() const
{
    return m_listener ? m_listener->serverAddress() : m_refusing ? m_config.listenAddress : QHostAddress();
}

quint16 ProxyServer::listenPort() const
{
    return m_listener ? m_listener->serverPort() : m_refusing ? m_config.listenPort : 0;
}

int ProxyServer::liveConnections() const
{
    int live = 0;
    for (const auto &generation : m_generations) {
        for (const auto &worker : generation->workers)
            live += worker->load();
    }
    return live;
}

bool ProxyServer::start(const ProxyConfig &requested)
{
    if (isListening()) {
        m_errorString = QStringLiteral("already listening on %1").arg(m_config.listenText());
        return false;
    }
    const QString invalid = requested.validate();
    if (!invalid.isEmpty()) {
        m_errorString = invalid;
        return false;
    }

    ProxyConfig config = requested;
    m_descriptorLimit = DescriptorLimit::raiseToHard();
    if (config.maxConnections == 0)
        config.maxConnections = DescriptorLimit::maxConnectionsFor(m_descriptorLimit);
    if (config.workers == 0)
        config.workers = qMax(1, QThread::idealThreadCount());
    // Names this instance in the Via header of the requests it forwards as
    // an HTTP proxy, when asked to, so that a request coming back to it is
    // seen as a loop. Without it, loops to its own address are still caught
    // by address (RelayConnection::isOwnListener).
    if (config.addVia)
        config.viaToken = "proxymon-" + QByteArray::number(QRandomGenerator::global()->generate(), 16);
    if (config.builtinEcho) {
        if (!m_echo) {
            m_errorString = QStringLiteral("this proxymon has no built-in echo server");
            return false;
        }
        config.targetPort = m_echo(&m_errorString);
        if (config.targetPort == 0)
            return false;
    }

    if (config.mode == ProxyConfig::Mode::HttpProxy) {
        // Started once and kept, like the echo server.
        if (!m_caPage)
            m_caPage = new CaPage(this);
        if (!m_caPage->start(&m_errorString))
            return false;
        config.caPagePlainPort = m_caPage->plainPort();
        config.caPageDecryptedPort = m_caPage->decryptedPort();
    }
    Worker::Tls tls;
    if (!startTls(config, &tls))
        return false;

    Listener *listener = listen(config, &m_errorString);
    if (!listener)
        return false;
    m_listener = listener;
    config.listenPort = listener->serverPort();
    // A shared bandwidth is shared by this start's connections, on every
    // worker, and so are the HTTP faults' counts: made here, copied with
    // the rules.
    config.rules.prepare();
    m_config = config;
    m_errorString.clear();
    m_pausedAtLimit = false;
    m_backoffMs = FirstBackoffMs;

    m_gate = std::make_shared<Gate>();
    m_gate->limit = config.maxConnections;

    auto generation = std::make_unique<Generation>();
    Generation *raw = generation.get();
    generation->pool.setObjectName(QStringLiteral("proxymon-workers"));
    generation->pool.setMaxThreadCount(config.workers);
    // Threads of a drained generation should go away, not idle.
    generation->pool.setExpiryTimeout(0);
    for (int i = 0; i < config.workers; ++i) {
        Worker::Hooks hooks;
        hooks.connectionEnded = [this, gate = m_gate] {
            const int now = gate->live.fetch_sub(1) - 1;
            if (gate->paused.load() && now < gate->limit)
                QMetaObject::invokeMethod(this, &ProxyServer::resumeAccepting, Qt::QueuedConnection);
        };
        hooks.descriptorsExhausted = [this] {
            QMetaObject::invokeMethod(this, &ProxyServer::onAcceptError, Qt::QueuedConnection);
        };
        hooks.finished = [this, raw] {
            QMetaObject::invokeMethod(this, [this, raw] { workerFinished(raw); }, Qt::QueuedConnection);
        };
        generation->workers.push_back(std::make_unique<Worker>(i, config, m_resolver.get(), tls, std::move(hooks)));
        if (const int error = generation->workers.back()->setupError()) {
            m_errorString = QStringLiteral("cannot start a relay worker: %1").arg(SystemError::text(error));
            delete m_listener;
            m_listener = nullptr;
            return false;
        }
    }
    for (const auto &worker : generation->workers)
        generation->pool.start(worker.get());
    generation->running = config.workers;
    m_generations.push_back(std::move(generation));
    m_current = raw;

    m_publishTimer.start();
    scheduleRefusals();
    emit listeningChanged(true);
    return true;
}

Listener *ProxyServer::listen(const ProxyConfig &config, QString *error)
{
    const int fd = Listener::openSocket(config.listenAddress, config.listenPort, config.listenBacklog, error);
    if (fd < 0)
        return nullptr;
    auto *listener = new Listener(this);
    if (!listener->adoptListeningSocket(fd)) {
        *error = QStringLiteral("cannot listen on %1: %2").arg(config.listenText(), listener->errorString());
        delete listener;
        ::close(fd);
        return nullptr;
    }
    connect(listener, &Listener::descriptorAccepted, this, &ProxyServer::onDescriptorAccepted);
    connect(listener, &Listener::wakeUpDone, this, [this] { m_wakeUpTarget = nullptr; });
    connect(listener, &QTcpServer::acceptError, this, &ProxyServer::onAcceptError);
    connect(listener, &Listener::acceptStalled, this, &ProxyServer::onAcceptError);
    return listener;
}

void ProxyServer::scheduleRefusals()
{
    qDeleteAll(m_refusalTimers);
    m_refusalTimers.clear();
    const QList<FaultRule> &faults = m_config.rules.faults;
    for (qsizetype i = 0; i < faults.size(); ++i) {
        if (!faults[i].refuse)
            continue;
        auto *timer = new QTimer(this);
        timer->setSingleShot(true);
        const int forMs = int(qMin<qint64>(faults[i].action.durationUs / 1000, std::numeric_limits<int>::max()));
        connect(timer, &QTimer::timeout, this, [this, forMs, i] {
            refuseFor(forMs, QStringLiteral("fault rule %1").arg(i + 1));
        });
        timer->start(int(qMin<qint64>(faults[i].delayUs / 1000, std::numeric_limits<int>::max())));
        m_refusalTimers.append(timer);
    }
}

void ProxyServer::refuseFor(int milliseconds, const QString &by)
{
    if (!m_listener || !m_current)
        return;
    // The listening socket closes, so that connects fail at once
    // (ECONNREFUSED), as with no server there; the live connections go on.
    delete m_listener;
    m_listener = nullptr;
    m_wakeUpTarget = nullptr;
    m_refusing = true;
    m_refusalEnd.start(milliseconds);
    emit notice(QStringLiteral("refusing new connections on %1 for %2 ms (%3)")
                    .arg(m_config.listenText()).arg(milliseconds).arg(by));
}

void ProxyServer::listenAgain()
{
    if (!m_refusing)
        return;
    QString error;
    Listener *listener = listen(m_config, &error);
    if (!listener) {
        // Another program took the port meanwhile, most likely.
        emit notice(QStringLiteral("%1; trying again in 1 s").arg(error));
        m_refusalEnd.start(1000);
        return;
    }
    m_listener = listener;
    m_refusing = false;
    emit notice(QStringLiteral("accepting new connections on %1 again").arg(m_config.listenText()));
    if (m_pausedAtLimit) {
        m_listener->pause();
        resumeAccepting();
    }
}

QString ProxyServer::authorityCertificatePath() const
{
    return m_decryption.authorityCertificatePath();
}

void ProxyServer::closeConnection(quint64 id)
{
    // The id does not say which worker holds it: each looks.
    for (const auto &generation : m_generations) {
        for (const auto &worker : generation->workers)
            worker->inbox()->postClose(id);
    }
}

void ProxyServer::setRules(const RuleSet &rules)
{
    RuleSet prepared = rules;
    prepared.prepare();
    m_config.rules = prepared;
    if (!m_current)
        return;
    scheduleRefusals();
    const auto shared = std::make_shared<const RuleSet>(prepared);
    for (const auto &worker : m_current->workers) {
        Worker *target = worker.get();
        target->inbox()->postTask([target, shared] { target->setRules(shared); });
    }
}

void ProxyServer::act(quint64 id, const FaultAction &action, const QString &by)
{
    for (const auto &generation : m_generations) {
        for (const auto &worker : generation->workers) {
            Worker *target = worker.get();
            target->inbox()->postTask([target, id, action, by] {
                if (RelayConnection *connection = target->connection(id))
                    connection->faults().act(action, by);
            });
        }
    }
}

void ProxyServer::stop()
{
    m_resumeTimer.stop();
    m_refusalEnd.stop();
    qDeleteAll(m_refusalTimers);
    m_refusalTimers.clear();
    const bool wasListening = m_listener != nullptr || m_refusing;
    m_refusing = false;
    delete m_listener;
    m_listener = nullptr;
    if (m_current) {
        for (const auto &worker : m_current->workers)
            worker->inbox()->postStop(m_config.stopGraceMs);
        m_current = nullptr;
    }
    m_wakeUpTarget = nullptr;
    if (wasListening)
        emit listeningChanged(false);
    if (m_generations.empty() && wasListening)
        emit stopped();
}

void ProxyServer::onDescriptorAccepted(qintptr descriptor, const SocketAddress &peer)
{
    m_backoffMs = FirstBackoffMs;
    if (!m_current || m_gate->live.load() >= m_gate->limit) {
        // Accepted in the same burst as the one that reached the limit: refuse
        // it plainly rather than hold it without service.
        ::close(int(descriptor));
        return;
    }
    // One wake-up's connections go to one worker, the least loaded when it
    // began: their ids then reach the window as one run, where spreading a
    // burst one by one over the workers interleaved their batches' ids and
    // the store inserted them row by row.
    if (!m_wakeUpTarget) {
        m_wakeUpTarget = m_current->workers.front().get();
        for (const auto &worker : m_current->workers) {
            if (worker->load() < m_wakeUpTarget->load())
                m_wakeUpTarget = worker.get();
        }
    }
    const int live = m_gate->live.fetch_add(1) + 1;
    m_wakeUpTarget->postAccepted(int(descriptor), m_nextId++, peer);
    if (live >= m_gate->limit && !m_pausedAtLimit) {
        m_pausedAtLimit = true;
        m_gate->paused.store(true);
        m_listener->pause();
        emit notice(QStringLiteral("connection limit of %1 reached: not accepting until a connection ends")
                        .arg(m_gate->limit));
        // A connection may have ended between the count and the flag.
        resumeAccepting();
    }
}

void ProxyServer::resumeAccepting()
{
    if (!m_pausedAtLimit || !m_listener || !m_gate || m_gate->live.load() >= m_gate->limit)
        return;
    m_pausedAtLimit = false;
    m_gate->paused.store(false);
    if (!m_resumeTimer.isActive())
        m_listener->resume();
    emit notice(QStringLiteral("below the connection limit again: accepting"));
}

void ProxyServer::onAcceptError()
{
    // Several workers may hit the wall at once: one back-off at a time.
    if (!m_listener || m_resumeTimer.isActive())
        return;
    // Out of descriptors or memory: the pending connection stays in the
    // backlog, so retrying at once would spin. Back off instead.
    m_listener->pause();
    emit notice(QStringLiteral("out of descriptors (%1 open, limit %2): not accepting for %3 ms")
                    .arg(openDescriptors()).arg(m_descriptorLimit).arg(m_backoffMs));
    m_resumeTimer.start(m_backoffMs);
    m_backoffMs = qMin(m_backoffMs * 2, LongestBackoffMs);
}

bool ProxyServer::startTls(const ProxyConfig &config, Worker::Tls *tls)
{
    DecryptionSetup::Settings settings;
    settings.keyLogFile = config.keyLogFile;
    settings.upstreamCaFile = config.upstreamCaFile;
    settings.insecureUpstream = config.insecureUpstream;
    settings.decrypt = config.decrypt;
    settings.passthroughHosts = config.passthroughHosts;
    settings.insecureHosts = config.insecureHosts;
    settings.caDirectory = config.caDirectory;
    tls->upstream = m_decryption.start(settings, &m_errorString);
    if (!tls->upstream)
        return false;
    tls->interception = m_decryption.interception();
    decryptionPrepared();
    return true;
}

void ProxyServer::setDecryption(bool on)
{
    m_config.decrypt = on;
    m_decryption.setEnabled(on, isListening());
    if (on && isListening())
        decryptionPrepared();
}

void ProxyServer::decryptionPrepared()
{
    if (m_caPage)
        m_caPage->setAuthority(m_decryption.authority());
    const QString unavailable = m_decryption.takeNotice();
    if (!unavailable.isEmpty())
        emit notice(unavailable);
}

void ProxyServer::publish()
{
    if (m_decryption.interception()->takeChanged())
        emit interceptionChanged();
    // One batch per worker, its lists taken whole: a connection lives on
    // one worker, so nothing needs merging, and merging thousands of new
    // connections from two workers into one list was a visible part of the
    // window's work in a burst.
    bool reported = false;
    for (const auto &generation : m_generations) {
        for (const auto &worker : generation->workers) {
            QList<ConnectionRecord> records;
            QList<HttpExchange> exchanges;
            worker->takeReports(&records, &exchanges);
            if (!records.isEmpty())
                emit connectionsUpdated(records);
            const bool any = !records.isEmpty() || !exchanges.isEmpty();
            reported = reported || any;
            if (any)
                emit published(records, exchanges);
        }
    }
    if (m_heapTrim.due(reported, MonotonicClock::nowUs() / 1000))
        HeapTrim::trim();
}

void ProxyServer::workerFinished(Generation *generation)
{
    if (--generation->running > 0)
        return;
    publish();
    for (auto it = m_generations.begin(); it != m_generations.end(); ++it) {
        if (it->get() == generation) {
            m_generations.erase(it);
            break;
        }
    }
    if (m_generations.empty()) {
        m_publishTimer.stop();
        if (!m_listener && !m_refusing)
            emit stopped();
    }
}
