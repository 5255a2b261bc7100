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
    {
        QMutexLocker lock(&m_mutex);
        add();
    }
    // After the item is in: a worker that said it sleeps before this post
    // held the lock gets a wake-up (one per sleep, whoever posts); one
    // that says so after it finds the item in beforeWait(). Outside the
    // lock: a worker woken at once would otherwise find it held and sleep
    // on it again (two futex calls and a context switch).
    if (m_asleep.exchange(false))
        eventfd_write(m_eventFd, 1);
}

bool WorkerInbox::beforeWait(bool sleeping)
{
    QMutexLocker lock(&m_mutex);
    if (!m_pending.empty())
        return true;
    // Under the lock: a post that adds after this sees the flag.
    if (sleeping)
        m_asleep.store(true);
    return false;
}

void WorkerInbox::clearWakeUp()
{
    // A wake-up whose post was taken already (the worker found it before
    // it slept) only costs this read and one empty batch.
    eventfd_t value = 0;
    eventfd_read(m_eventFd, &value);
}

WorkerInbox::Batch WorkerInbox::take()
{
    QMutexLocker lock(&m_mutex);
    Batch batch;
    std::swap(batch, m_pending);
    return batch;
}
