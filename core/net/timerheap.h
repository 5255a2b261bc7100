#pragma once

#include <QtGlobal>

#include <vector>

// A worker's timers, all of them in one min-heap whose earliest due time
// bounds the worker's epoll wait: one structure per worker instead of a
// timer (or a timerfd) per connection, so that 10,000 delayed flows cost
// a heap of 10,000 pointers and O(log n) per change. Each timer knows its
// place in the heap (libevent's min_heap does the same), so rescheduling
// and cancelling need no search. Timers due at the same moment fire in
// the order they were scheduled: flows sharing a bandwidth take turns.
// One thread only.
class TimerHeap
{
public:
    class Timer
    {
    public:
        Timer() = default;
        Timer(const Timer &) = delete;
        Timer &operator=(const Timer &) = delete;

        bool isScheduled() const { return m_index >= 0; }
        qint64 dueUs() const { return m_dueUs; }
        virtual void expired() = 0;

    protected:
        // The owner cancels it first (a heap must not point at freed memory).
        ~Timer() = default;

    private:
        friend class TimerHeap;
        qint64 m_dueUs = 0;
        quint64 m_order = 0;
        int m_index = -1;
    };

    // Sets when timer expires (monotonic µs), scheduled or not yet.
    void schedule(Timer *timer, qint64 dueUs);
    void cancel(Timer *timer);
    bool isEmpty() const { return m_heap.empty(); }
    int size() const { return int(m_heap.size()); }
    // The earliest due time, or -1 with nothing scheduled.
    qint64 nextDueUs() const { return m_heap.empty() ? -1 : m_heap.front()->m_dueUs; }
    // Fires every timer due by nowUs, each once: one rescheduled for a time
    // already past waits for the next call. Returns how many fired.
    int runDue(qint64 nowUs);

private:
    bool before(const Timer *a, const Timer *b) const;
    void place(size_t index, Timer *timer);
    void siftUp(size_t index);
    void siftDown(size_t index);
    void removeAt(size_t index);

    std::vector<Timer *> m_heap;
    quint64 m_nextOrder = 0;
};

// The one adapter from a timer to the object it wakes: expiring calls
// (object.*Call)(). A member of that object, cancelled before it goes.
template <typename Object, void (Object::*Call)()>
class MemberTimer final : public TimerHeap::Timer
{
public:
    explicit MemberTimer(Object &object) : m_object(object) {}
    void expired() override { (m_object.*Call)(); }

private:
    Object &m_object;
};
