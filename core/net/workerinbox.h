#pragma once

#include "resolver.h"
#include "socketaddress.h"

#include <QMutex>

#include <atomic>
#include <functional>
#include <utility>
#include <vector>

// What other threads hand to a worker: accepted descriptors from the
// listener, lookup answers from the resolver, connections to close, work
// to run on its thread (a user's action on a connection), and the request
// to stop. Shared
// through a shared_ptr so a late lookup answer never outlives its target.
//
// Posting wakes the worker through an eventfd that its epoll set watches,
// but only a worker that said it is going to sleep (beforeWait()): one
// that is awake takes what was posted before it waits again, so under
// load a connection handed over costs no system call on either side.
class WorkerInbox
{
public:
    struct Accepted
    {
        int descriptor = -1;
        quint64 id = 0;
        SocketAddress peer; // empty: not known (getpeername() then)
    };
    struct Resolved
    {
        quint64 id = 0;
        ResolveResult result;
    };
    struct Batch
    {
        std::vector<Accepted> accepted;
        std::vector<Resolved> resolved;
        std::vector<quint64> close; // connections the user closed
        std::vector<std::function<void()>> tasks;
        bool stop = false;
        int stopGraceMs = 0;

        bool empty() const { return accepted.empty() && resolved.empty() && close.empty() && tasks.empty() && !stop; }
    };

    WorkerInbox();
    ~WorkerInbox(); // closes descriptors that were never taken

    WorkerInbox(const WorkerInbox &) = delete;
    WorkerInbox &operator=(const WorkerInbox &) = delete;

    int eventDescriptor() const { return m_eventFd; }

    // Any thread.
    void postAccepted(int descriptor, quint64 id, const SocketAddress &peer);
    void postResolved(quint64 id, ResolveResult result);
    void postStop(int graceMs);
    void postClose(quint64 id);
    // task runs on the worker's thread, if the worker is still running.
    void postTask(std::function<void()> task);

    // Worker thread, before each wait: true when posts wait to be taken
    // (take them, and wait only after); otherwise, with sleeping (the wait
    // may block), the next post writes the wake-up.
    bool beforeWait(bool sleeping);
    // Worker thread, once its wait returned: posts need not wake it until
    // its next beforeWait().
    void awake() { m_asleep.store(false, std::memory_order_relaxed); }
    // Worker thread: the eventfd was readable; this clears it.
    void clearWakeUp();
    // Worker thread: everything posted so far.
    Batch take();

private:
    // Adds under the lock, then wakes the worker if it may be asleep and
    // no post has woken it yet.
    template<typename Add>
    void post(Add add);

    int m_eventFd = -1;
    QMutex m_mutex;
    Batch m_pending;
    // The worker may be blocked in its wait, and no wake-up was written
    // since it said so: the post that turns it false writes one.
    std::atomic<bool> m_asleep{false};
};
