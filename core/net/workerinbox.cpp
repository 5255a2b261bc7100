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
    post([&] { m_pending.accepted.push_back({descriptor, id, peer}); });
}

void WorkerInbox::postResolved(quint64 id, ResolveResult result)
{
    post([&] { m_pending.resolved.push_back({id, std::move(result)}); });
}

void WorkerInbox::postStop(int graceMs)
{
    post([&] {
        m_pending.stop = true;
        m_pending.stopGraceMs = graceMs;
    });
}

void WorkerInbox::postClose(quint64 id)
{
    post([&] { m_pending.close.push_back(id); });
}

void WorkerInbox::postTask(std::function<void()> task)
{
    post([&] { m_pending.tasks.push_back(std::move(task)); });
}

template<typename Add>
void WorkerInbox::post(Add add)
{
    bool wake = false;
    {
        QMutexLocker lock(&m_mutex);
        add();
        // One write per batch: the worker takes everything at once.
        wake = !m_woken;
        m_woken = true;
    }
    // Outside the lock: a worker woken at once would otherwise find it
    // held and sleep on it again (two futex calls and a context switch
    // per accepted connection).
    if (wake)
        eventfd_write(m_eventFd, 1);
}

WorkerInbox::Batch WorkerInbox::take()
{
    // The wake-up is cleared before the batch is taken: a post after the
    // swap finds m_woken false and writes again, so none is lost; a write
    // that comes after its post's items were taken costs one empty wake.
    eventfd_t value = 0;
    eventfd_read(m_eventFd, &value);
    QMutexLocker lock(&m_mutex);
    m_woken = false;
    Batch batch;
    std::swap(batch, m_pending);
    return batch;
}
