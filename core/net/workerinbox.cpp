#include "workerinbox.h"

#include <QMutexLocker>

#include <sys/eventfd.h>
#include <unistd.h>

WorkerInbox::WorkerInbox()
    : m_eventFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC))
{
}

WorkerInbox::~WorkerInbox()
{
    for (const Accepted &accepted : m_pending.accepted)
        ::close(accepted.descriptor);
    if (m_eventFd >= 0)
        ::close(m_eventFd);
}

void WorkerInbox::postAccepted(int descriptor, quint64 id, const SocketAddress &peer)
{
    QMutexLocker lock(&m_mutex);
    m_pending.accepted.push_back({descriptor, id, peer});
    wakeLocked();
}

void WorkerInbox::postResolved(quint64 id, ResolveResult result)
{
    QMutexLocker lock(&m_mutex);
    m_pending.resolved.push_back({id, std::move(result)});
    wakeLocked();
}

void WorkerInbox::postStop(int graceMs)
{
    QMutexLocker lock(&m_mutex);
    m_pending.stop = true;
    m_pending.stopGraceMs = graceMs;
    wakeLocked();
}

void WorkerInbox::postClose(quint64 id)
{
    QMutexLocker lock(&m_mutex);
    m_pending.close.push_back(id);
    wakeLocked();
}

void WorkerInbox::postTask(std::function<void()> task)
{
    QMutexLocker lock(&m_mutex);
    m_pending.tasks.push_back(std::move(task));
    wakeLocked();
}

WorkerInbox::Batch WorkerInbox::take()
{
    QMutexLocker lock(&m_mutex);
    if (m_woken) {
        eventfd_t value = 0;
        eventfd_read(m_eventFd, &value);
        m_woken = false;
    }
    Batch batch;
    std::swap(batch, m_pending);
    return batch;
}

void WorkerInbox::wakeLocked()
{
    // One write per batch: the worker takes everything at once.
    if (!m_woken) {
        eventfd_write(m_eventFd, 1);
        m_woken = true;
    }
}
