#pragma once

#include "resolver.h"
#include "socketaddress.h"

#include <QMutex>

#include <functional>
#include <utility>
#include <vector>

// What other threads hand to a worker: accepted descriptors from the
// listener, lookup answers from the resolver, connections to close, work
// to run on its thread (a user's action on a connection), and the request
// to stop. Shared
// through a shared_ptr so a late lookup answer never outlives its target.
// Posting wakes the worker through an eventfd that its epoll set watches.
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

    // Worker thread: everything posted so far; also clears the wake-up.
    Batch take();

private:
    // Adds under the lock, then wakes the worker if nobody has since its
    // last take().
    template<typename Add>
    void post(Add add);

    int m_eventFd = -1;
    QMutex m_mutex;
    Batch m_pending;
    bool m_woken = false; // a wake-up was written (or is being) since the last take()
};
