#include "timerheap.h"

void TimerHeap::schedule(Timer *timer, qint64 dueUs)
{
    if (timer->isScheduled())
        removeAt(size_t(timer->m_index));
    timer->m_dueUs = dueUs;
    timer->m_order = m_nextOrder++;
    m_heap.push_back(timer);
    timer->m_index = int(m_heap.size() - 1);
    siftUp(m_heap.size() - 1);
}

void TimerHeap::cancel(Timer *timer)
{
    if (timer->isScheduled())
        removeAt(size_t(timer->m_index));
}

int TimerHeap::runDue(qint64 nowUs)
{
    // Only those scheduled before this call: a timer that expires and
    // schedules itself again at once cannot keep the loop going.
    const quint64 limit = m_nextOrder;
    int fired = 0;
    while (!m_heap.empty()) {
        Timer *timer = m_heap.front();
        if (timer->m_dueUs > nowUs || timer->m_order >= limit)
            break;
        removeAt(0);
        ++fired;
        timer->expired();
    }
    return fired;
}

bool TimerHeap::before(const Timer *a, const Timer *b) const
{
    return a->m_dueUs < b->m_dueUs || (a->m_dueUs == b->m_dueUs && a->m_order < b->m_order);
}

void TimerHeap::place(size_t index, Timer *timer)
{
    m_heap[index] = timer;
    timer->m_index = int(index);
}

void TimerHeap::siftUp(size_t index)
{
    Timer *timer = m_heap[index];
    while (index > 0) {
        const size_t parent = (index - 1) / 2;
        if (!before(timer, m_heap[parent]))
            break;
        place(index, m_heap[parent]);
        index = parent;
    }
    place(index, timer);
}

void TimerHeap::siftDown(size_t index)
{
    Timer *timer = m_heap[index];
    const size_t count = m_heap.size();
    for (;;) {
        size_t child = 2 * index + 1;
        if (child >= count)
            break;
        if (child + 1 < count && before(m_heap[child + 1], m_heap[child]))
            ++child;
        if (!before(m_heap[child], timer))
            break;
        place(index, m_heap[child]);
        index = child;
    }
    place(index, timer);
}

void TimerHeap::removeAt(size_t index)
{
    Timer *removed = m_heap[index];
    removed->m_index = -1;
    Timer *last = m_heap.back();
    m_heap.pop_back();
    if (index == m_heap.size())
        return;
    place(index, last);
    // The moved timer may belong above or below its new place.
    if (index > 0 && before(last, m_heap[(index - 1) / 2]))
        siftUp(index);
    else
        siftDown(index);
}
