#include "proxyserver.h"

#include "builtinecho.h"
#include "capage.h"
#include "descriptorlimit.h"
#include "endpoint.h"
#include "listener.h"
#include "relayconnection.h"
#include "resolver.h"
#include "certificateauthority.h"
#include "systemerror.h"
#include "tlsclientcontext.h"
#include "tlsinterception.h"
#include "tlskeylog.h"
#include "tlsservercontext.h"
#include "worker.h"
#include "workerinbox.h"

#include <QDir>
#include <QFile>
#include <QHash>
#include <QRandomGenerator>
#include <QThread>
#include <QThreadPool>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <limits>
#include <csignal>
#include <cstring>
#include <vector>

namespace {

constexpr int PublishIntervalMs = 50;
constexpr int FirstBackoffMs = 100;
constexpr int LongestBackoffMs = 1600;

// Binds and listens with POSIX calls so that a failure carries the OS's own
// error; QTcpServer then takes over the descriptor and accepts on it.
int openListeningSocket(const QHostAddress &address, quint16 port, int backlog, QString *error)
{
    const SocketAddress socketAddress = SocketAddress::fromHostAddress(address, port);
    const QString where = Endpoint::format(address.toString(), port);
    const int fd = socket(socketAddress.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        const int e = errno;
        *error = QStringLiteral("cannot listen on %1: %2 (%3)").arg(where, SystemError::text(e), SystemError::name(e));
        return -1;
    }
    // Restarting on the same port must not wait for old connections in
    // TIME_WAIT to expire.
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    // Inherited by every accepted socket (the relay forwards at once what
    // arrives; the sender's stack already decided the segmenting).
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    // Inherited too: every read then says what is left to read (see
    // RelayConnection's receive()).
    setsockopt(fd, IPPROTO_TCP, TCP_INQ, &on, sizeof on);
    // An urgent byte stays in the stream, as data to pass on, rather than
    // being taken out of it and lost.
    setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &on, sizeof on);
    if (bind(fd, socketAddress.data(), socketAddress.length) != 0 || listen(fd, backlog) != 0) {
        const int e = errno;
        ::close(fd);
        *error = QStringLiteral("cannot listen on %1: %2 (%3)").arg(where, SystemError::text(e), SystemError::name(e));
        return -1;
    }
    return fd;
}

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
    , m_interception(std::make_shared<TlsInterception>())
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
        // Started once and kept: connections of a stopping generation may
        // still be talking to it.
        if (!m_echo)
            m_echo = std::make_unique<BuiltinEcho>();
        if (!m_echo->start(&m_errorString))
            return false;
        config.targetPort = m_echo->port();
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
    const int fd = openListeningSocket(config.listenAddress, config.listenPort, config.listenBacklog, error);
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
    return m_authority ? m_authority->certificatePath() : QString();
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

void ProxyServer::onDescriptorAccepted(qintptr descriptor)
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
    m_wakeUpTarget->postAccepted(int(descriptor), m_nextId++);
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
    QString error;
    std::shared_ptr<TlsKeyLog> keyLog;
    if (!config.keyLogFile.isEmpty() && !(keyLog = TlsKeyLog::open(config.keyLogFile, &error))) {
        m_errorString = error;
        return false;
    }
    // Upstreams speak TLS for a tls: target and behind every intercepted
    // client; a CA file the user named that cannot be used stops the start.
    tls->upstream = TlsClientContext::create(config.upstreamCaFile, config.insecureUpstream, keyLog, &error);
    if (!tls->upstream) {
        m_errorString = QStringLiteral("upstream TLS: %1").arg(error);
        return false;
    }
    m_interception->setEnabled(config.decrypt);
    m_interception->setHosts(TlsInterception::Hosts::Passthrough, config.passthroughHosts);
    m_interception->setHosts(TlsInterception::Hosts::Insecure, config.insecureHosts);
    tls->interception = m_interception;
    m_keyLog = keyLog;
    if (config.decrypt)
        prepareDecryption(config);
    else
        m_interception->setServer(nullptr, QStringLiteral("decryption is off"));
    if (m_caPage && !config.decrypt)
        m_caPage->setAuthority(nullptr);
    return true;
}

void ProxyServer::setDecryption(bool on)
{
    m_interception->setEnabled(on);
    m_config.decrypt = on;
    if (on && isListening())
        prepareDecryption(m_config);
}

void ProxyServer::prepareDecryption(const ProxyConfig &config)
{
    // Without an authority the proxy still runs and relays TLS unread: a
    // user who never looks inside HTTPS should not be stopped by, say, a
    // read-only home directory. Each passed-through row says why.
    QString error;
    const QString directory = config.caDirectory.isEmpty() ? CertificateAuthority::defaultDirectory() : config.caDirectory;
    // Reloaded when the one on disk is another (replaced in the trust
    // dialog or by `proxymon --ca-replace`): leaves must come from the
    // authority the user was just told to trust.
    const auto replacedOnDisk = [&] {
        QFile file(m_authority->certificatePath());
        return !file.open(QIODevice::ReadOnly) || file.readAll() != m_authority->certificatePem();
    };
    if (!m_authority || m_authorityDirectory != directory || replacedOnDisk()) {
        m_authority = CertificateAuthority::open(directory, &error);
        m_authorityDirectory = directory;
        m_authorityError = error;
    }
    std::shared_ptr<const TlsServerContext> server;
    if (m_authority)
        server = TlsServerContext::create(m_authority, m_keyLog, &error);
    const QString unavailable = m_authority ? error : m_authorityError;
    m_interception->setServer(server, unavailable);
    if (m_caPage)
        m_caPage->setAuthority(server ? m_authority : nullptr);
    if (!server)
        emit notice(QStringLiteral("TLS is relayed without decryption: %1").arg(unavailable));
}

void ProxyServer::publish()
{
    if (m_interception->takeChanged())
        emit interceptionChanged();
    // One batch per worker, its lists taken whole: a connection lives on
    // one worker, so nothing needs merging, and merging thousands of new
    // connections from two workers into one list was a visible part of the
    // window's work in a burst.
    for (const auto &generation : m_generations) {
        for (const auto &worker : generation->workers) {
            QList<ConnectionRecord> records;
            QList<HttpExchange> exchanges;
            // Only a worker that reported twice since the last batch can
            // have two snapshots of a connection in it.
            if (worker->takeReports(&records, &exchanges))
                dropSuperseded(&records);
            if (!records.isEmpty())
                emit connectionsUpdated(records);
            if (!records.isEmpty() || !exchanges.isEmpty())
                emit published(records, exchanges);
        }
    }
}

void ProxyServer::dropSuperseded(QList<ConnectionRecord> *records)
{
    // A worker that published twice since the last batch has two snapshots
    // of a connection: the later one takes the earlier one's place.
    QHash<quint64, qsizetype> firstAt;
    firstAt.reserve(records->size());
    std::vector<bool> superseded;
    for (qsizetype i = 0; i < records->size(); ++i) {
        const quint64 id = records->at(i).id;
        const auto found = firstAt.constFind(id);
        if (found == firstAt.constEnd()) {
            firstAt.insert(id, i);
            continue;
        }
        (*records)[*found] = std::move((*records)[i]);
        superseded.resize(size_t(records->size()));
        superseded[size_t(i)] = true;
    }
    if (superseded.empty())
        return;
    qsizetype kept = 0;
    for (qsizetype i = 0; i < records->size(); ++i) {
        if (superseded[size_t(i)])
            continue;
        if (kept != i)
            (*records)[kept] = std::move((*records)[i]);
        ++kept;
    }
    records->resize(kept);
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
