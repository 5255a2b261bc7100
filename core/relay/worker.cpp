#include "worker.h"

#include "monotonicclock.h"
#include "relayconnection.h"
#include "resolver.h"
#include "tlsclientcontext.h"
#include "tlsinterception.h"
#include "workerinbox.h"

#include <QHash>
#include <QMutexLocker>
#include <QThread>

#include <cerrno>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

namespace {

// Observers see changes at most this late; it is also the resolution of the
// timeouts.
constexpr qint64 TickMs = 50;
// Timeouts are checked this often: fine enough for seconds-long limits, and
// rare enough that thousands of idle connections cost next to nothing.
constexpr qint64 SweepMs = 200;
constexpr int MaxEvents = 256;
constexpr std::uintptr_t InboxTag = 0;

// Moves every element of from to the end of to; usually to is empty and
// takes the other list whole. Used under the outbox lock, which the window's
// thread waits on: copying thousands of records there held it for 100 ms.
template<typename T>
void moveAppend(QList<T> *to, QList<T> *from)
{
    if (to->isEmpty())
        to->swap(*from);
    else
        to->append(std::move(*from));
    from->clear();
}

void dropSuperseded(QList<ConnectionRecord> *records)
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

} // namespace

Worker::Worker(int index, const ProxyConfig &config, Resolver *resolver, Tls tls, Hooks hooks)
    : m_index(index)
    , m_config(config)
    , m_resolver(resolver)
    , m_tls(std::move(tls))
    , m_hooks(std::move(hooks))
    , m_inbox(std::make_shared<WorkerInbox>())
    , m_listenText(config.listenAddress == QHostAddress::Any || config.listenAddress == QHostAddress::AnyIPv4
                           || config.listenAddress == QHostAddress::AnyIPv6
                       ? QString()
                       : config.listenText())
    , m_targetText(config.targetText())
    , m_pipes(config.bufferBytes)
    , m_random(std::random_device()())
    , m_rules(std::make_shared<const RuleSet>(config.rules))
{
    setAutoDelete(false);
    // Made here, on the starting thread, before the listener accepts
    // anything: made in run(), it could meet a descriptor table the first
    // clients had already filled, and a loop over no epoll set spins.
    m_epollFd = epoll_create1(EPOLL_CLOEXEC);
    if (m_epollFd < 0) {
        m_setupError = errno;
        return;
    }
    epoll_event inboxEvent{};
    inboxEvent.events = EPOLLIN;
    inboxEvent.data.u64 = InboxTag;
    epoll_ctl(m_epollFd, EPOLL_CTL_ADD, m_inbox->eventDescriptor(), &inboxEvent);
}

Worker::~Worker()
{
    if (m_epollFd >= 0)
        ::close(m_epollFd);
}

void Worker::takeReports(QList<ConnectionRecord> *records, QList<HttpExchange> *exchanges)
{
    bool repeats = false;
    {
        QMutexLocker lock(&m_outboxMutex);
        records->swap(m_outbox);
        moveAppend(exchanges, &m_exchangeOutbox);
        repeats = m_outboxReports > 1;
        m_outboxReports = 0;
    }
    // Only a worker that reported twice since the last call can have two
    // snapshots of a connection; sorted out off the lock.
    if (repeats)
        dropSuperseded(records);
}

void Worker::markDirty(RelayConnection *connection)
{
    if (!connection->dirty) {
        connection->dirty = true;
        m_dirty.push_back(connection);
    }
}

void Worker::lookUp(RelayConnection *connection, const QString &host, quint16 port)
{
    m_resolving.emplace(connection->id(), connection);
    std::weak_ptr<WorkerInbox> inbox = m_inbox;
    const quint64 id = connection->id();
    m_resolver->lookup(host, port, [inbox, id](ResolveResult result) {
        if (auto target = inbox.lock())
            target->postResolved(id, std::move(result));
    });
}

void Worker::connectionFinished(RelayConnection *connection)
{
    // Called from inside the connection's own event handling, so the object
    // is freed only after the current batch of events.
    m_resolving.erase(connection->id());
    RelayConnection *last = m_connections.back();
    m_connections[connection->slot] = last;
    last->slot = connection->slot;
    m_connections.pop_back();
    m_closedRecords.append(connection->snapshot());
    m_finished.push_back(connection);
    m_load.fetch_sub(1, std::memory_order_relaxed);
    if (m_hooks.connectionEnded)
        m_hooks.connectionEnded();
}

void Worker::exchangesFinished(HttpConversation &conversation)
{
    conversation.moveFinishedTo(&m_exchanges);
}

void Worker::pumpLater(RelayConnection *connection, int side)
{
    m_again.emplace_back(connection, side);
}

void Worker::postAccepted(int descriptor, quint64 id, const SocketAddress &peer)
{
    m_load.fetch_add(1, std::memory_order_relaxed);
    m_inbox->postAccepted(descriptor, id, peer);
}

void Worker::adopt(int descriptor, quint64 id, const SocketAddress &peer)
{
    auto *connection = new RelayConnection(*this, id, descriptor, peer);
    connection->slot = m_connections.size();
    m_connections.push_back(connection);
    markDirty(connection);
    if (m_stopping) {
        connection->end(ConnectionRecord::CloseReason::Stopped, QStringLiteral("the proxy was stopping"));
        return;
    }
    connection->begin();
}

void Worker::drainInbox()
{
    WorkerInbox::Batch batch = m_inbox->take();
    if (batch.stop && !m_stopping) {
        m_stopping = true;
        m_stopDeadlineMs = m_nowMs + batch.stopGraceMs;
    }
    // Tasks first: rules put in force before a connection was accepted
    // must be the ones it gets (a SIGHUP reload, then a connect, can land
    // in one batch). An action on a connection names one the user saw,
    // adopted in an earlier batch.
    for (const std::function<void()> &task : batch.tasks)
        task();
    for (const WorkerInbox::Accepted &accepted : batch.accepted)
        adopt(accepted.descriptor, accepted.id, accepted.peer);
    for (const WorkerInbox::Resolved &resolved : batch.resolved) {
        const auto found = m_resolving.find(resolved.id);
        if (found == m_resolving.end())
            continue; // timed out or stopped meanwhile
        RelayConnection *connection = found->second;
        m_resolving.erase(found);
        connection->resolved(resolved.result);
    }
    for (const quint64 id : batch.close) {
        if (RelayConnection *found = connection(id))
            found->end(ConnectionRecord::CloseReason::Stopped, QStringLiteral("closed by the user"));
    }
}

void Worker::setRules(std::shared_ptr<const RuleSet> rules)
{
    m_rules = std::move(rules);
    for (size_t i = m_connections.size(); i-- > 0;) {
        if (i < m_connections.size())
            m_connections[i]->rulesChanged();
    }
}

RelayConnection *Worker::connection(quint64 id) const
{
    // Rare and by hand: a look through this worker's connections will do.
    const auto found = std::find_if(m_connections.begin(), m_connections.end(),
                                    [id](const RelayConnection *connection) { return connection->id() == id; });
    return found != m_connections.end() ? *found : nullptr;
}

void Worker::updateNow()
{
    // The precise clock, once per wake-up: the connection-life marks
    // share its base, and the last read of each flow is timed by it.
    m_wakeUs = MonotonicClock::nowUs();
    m_nowMs = m_wakeUs / 1000;
    timespec wall{};
    clock_gettime(CLOCK_REALTIME_COARSE, &wall);
    m_wallMs = qint64(wall.tv_sec) * 1000 + wall.tv_nsec / 1'000'000;
}

void Worker::run()
{
    const QString name = QStringLiteral("proxymon-worker-%1").arg(m_index);
    QThread::currentThread()->setObjectName(name);
    prctl(PR_SET_NAME, name.toLatin1().left(15).constData(), 0, 0, 0);
    // Linux keeps a nice value per thread; raising one's own needs no
    // privilege. Failing leaves the worker as it was, which only costs the
    // window some smoothness.
    if (m_config.workerNiceness > 0) {
        const auto self = id_t(gettid());
        errno = 0;
        const int current = getpriority(PRIO_PROCESS, self);
        if (errno == 0)
            setpriority(PRIO_PROCESS, self, current + m_config.workerNiceness);
    }

    m_scratch.resize(size_t(m_config.bufferBytes));
    m_flowShared = {m_scratch.data(), m_config.bufferBytes, &m_pipes, &m_wakeUs, &m_timers};
    if (m_epollFd < 0) {
        // The server does not start such a worker; nothing to run.
        if (m_hooks.finished)
            m_hooks.finished();
        return;
    }

    updateNow();
    qint64 nextTick = m_nowMs + TickMs;
    epoll_event events[MaxEvents];
    for (;;) {
        // With nothing to watch or report, sleep until the inbox speaks.
        const bool idle = m_connections.empty() && m_dirty.empty() && m_finished.empty() && !m_stopping;
        int timeout = !m_again.empty() ? 0 : idle ? -1 : int(qMax<qint64>(0, nextTick - m_nowMs));
        if (timeout != 0 && !m_timers.isEmpty()) {
            // Rounded up: waking a little early would only find nothing due
            // and wait again.
            const qint64 untilUs = m_timers.nextDueUs() - MonotonicClock::nowUs();
            const int timerMs = int(qMax<qint64>(0, (untilUs + 999) / 1000));
            timeout = timeout < 0 ? timerMs : qMin(timeout, timerMs);
        }
        // What was posted while this worker was awake wrote no wake-up: it
        // is taken after a look at the sockets that does not wait (so that
        // a flood of new connections never starves the ones it has). Only
        // a wait that may block asks for a wake-up.
        const bool posted = m_inbox->beforeWait(timeout != 0);
        const int ready = epoll_wait(m_epollFd, events, MaxEvents, posted ? 0 : timeout);
        m_inbox->awake();
        updateNow();
        if (posted)
            drainInbox();
        for (int i = 0; i < ready; ++i) {
            const std::uintptr_t tag = events[i].data.u64;
            if (tag == InboxTag) {
                m_inbox->clearWakeUp();
                drainInbox();
                continue;
            }
            auto *connection = reinterpret_cast<RelayConnection *>(tag & ~RelayConnection::TagBits);
            connection->handleEvent(tag, events[i].events);
        }
        if (!m_again.empty()) {
            // Finished connections are freed only in publish(), so these
            // pointers are still valid; pumpAgain() skips finished ones.
            std::vector<std::pair<RelayConnection *, int>> again;
            again.swap(m_again);
            for (const auto &[connection, side] : again)
                connection->pumpAgain(RelayConnection::Side(side));
        }
        // Shaped flows whose bytes are due, delayed connects.
        if (!m_timers.isEmpty())
            m_timers.runDue(m_wakeUs);
        if (m_nowMs >= nextTick || idle) {
            tick();
            nextTick = m_nowMs + TickMs;
        }
        if (m_stopping && m_connections.empty())
            break;
    }

    // Descriptors posted after the stop still belong to us.
    drainInbox();
    closeAll(ConnectionRecord::CloseReason::Stopped, QStringLiteral("the proxy was stopped"));
    publish();
    ::close(m_epollFd);
    m_epollFd = -1;
    m_scratch = std::vector<char>();
    m_pipes.clear();
    if (m_hooks.finished)
        m_hooks.finished();
}

void Worker::tick()
{
    if (m_nowMs >= m_nextSweepMs) {
        m_nextSweepMs = m_nowMs + SweepMs;
        for (size_t i = m_connections.size(); i-- > 0;) {
            if (i < m_connections.size())
                m_connections[i]->checkTimeouts(m_nowMs);
        }
    }
    if (m_stopping && m_nowMs >= m_stopDeadlineMs)
        closeAll(ConnectionRecord::CloseReason::Stopped, QStringLiteral("the proxy was stopped"));
    publish();
}

void Worker::closeAll(ConnectionRecord::CloseReason reason, const QString &why)
{
    while (!m_connections.empty())
        m_connections.back()->end(reason, why);
}

void Worker::publish()
{
    if (m_dirty.empty() && m_closedRecords.isEmpty() && m_finished.empty() && m_exchanges.isEmpty())
        return;
    QList<ConnectionRecord> records;
    records.reserve(qsizetype(m_dirty.size()) + m_closedRecords.size());
    for (RelayConnection *connection : m_dirty) {
        connection->dirty = false;
        // A finished connection's final record is in m_closedRecords.
        if (!connection->isFinished())
            records.append(connection->snapshot());
    }
    m_dirty.clear();
    records.append(m_closedRecords);
    m_closedRecords.clear();
    // Finished connections live until here so that m_dirty and m_again
    // never point at freed memory.
    if (!m_again.empty() && !m_finished.empty()) {
        m_again.erase(std::remove_if(m_again.begin(), m_again.end(),
                                     [](const auto &entry) { return entry.first->isFinished(); }),
                      m_again.end());
    }
    for (RelayConnection *finished : m_finished)
        delete finished;
    m_finished.clear();
    const qsizetype exchanges = m_exchanges.size();
    {
        QMutexLocker lock(&m_outboxMutex);
        if (!records.isEmpty())
            ++m_outboxReports;
        moveAppend(&m_outbox, &records);
        moveAppend(&m_exchangeOutbox, &m_exchanges);
    }
    // The next batch holds about as many exchanges as this one: room for
    // them now is one allocation, where growing one by one copies the list
    // at each doubling (with one malloc arena, other threads' blocks lie
    // where it would have grown in place: 2% of the worker's instructions
    // under keep-alive load). A batch without any lets the room go.
    if (exchanges == 0)
        m_exchanges = QList<HttpExchange>();
    else
        m_exchanges.reserve(exchanges);
}
