// The worker's timers: earliest first, ties in the order scheduled (flows
// sharing a bandwidth take turns by it), rescheduling and cancelling in
// place, and a timer that reschedules itself for the past fired once per run.

#include "timerheap.h"

#include <QRandomGenerator>
#include <QTest>

#include <algorithm>
#include <functional>
#include <memory>
#include <vector>

namespace {

struct Recorder final : TimerHeap::Timer
{
    Recorder(int name, std::vector<int> *log) : name(name), log(log) {}
    void expired() override
    {
        log->push_back(name);
        if (again)
            again(this);
    }
    int name;
    std::vector<int> *log;
    std::function<void(Recorder *)> again;
};

} // namespace

class tst_TimerHeap : public QObject
{
    Q_OBJECT
private slots:
    void earliestFirstThenInOrder();
    void rescheduleAndCancel();
    void manyAtRandom();
    void selfReschedulingFiresOncePerRun();
};

void tst_TimerHeap::earliestFirstThenInOrder()
{
    std::vector<int> log;
    TimerHeap heap;
    std::vector<std::unique_ptr<Recorder>> timers;
    for (int i = 0; i < 6; ++i)
        timers.push_back(std::make_unique<Recorder>(i, &log));
    // 3 and 1 are due at 10, scheduled in that order; 5 at 5.
    heap.schedule(timers[3].get(), 10);
    heap.schedule(timers[0].get(), 30);
    heap.schedule(timers[1].get(), 10);
    heap.schedule(timers[5].get(), 5);
    heap.schedule(timers[2].get(), 20);
    QCOMPARE(heap.nextDueUs(), 5);
    QCOMPARE(heap.runDue(20), 4);
    QCOMPARE(log, (std::vector<int>{5, 3, 1, 2}));
    QCOMPARE(heap.nextDueUs(), 30);
    QVERIFY(timers[0]->isScheduled());
    QVERIFY(!timers[3]->isScheduled());
    heap.cancel(timers[0].get());
    QVERIFY(heap.isEmpty());
    QCOMPARE(heap.nextDueUs(), -1);
}

void tst_TimerHeap::rescheduleAndCancel()
{
    std::vector<int> log;
    TimerHeap heap;
    Recorder a(1, &log);
    Recorder b(2, &log);
    Recorder c(3, &log);
    heap.schedule(&a, 100);
    heap.schedule(&b, 200);
    heap.schedule(&c, 300);
    heap.schedule(&c, 50);  // earlier
    heap.schedule(&a, 400); // later
    heap.cancel(&b);
    heap.cancel(&b);        // twice is harmless
    QCOMPARE(heap.size(), 2);
    QCOMPARE(heap.runDue(1000), 2);
    QCOMPARE(log, (std::vector<int>{3, 1}));
}

void tst_TimerHeap::manyAtRandom()
{
    std::vector<int> log;
    TimerHeap heap;
    std::vector<std::unique_ptr<Recorder>> timers;
    QRandomGenerator random(42);
    std::vector<std::pair<qint64, int>> expected;
    for (int i = 0; i < 5000; ++i) {
        timers.push_back(std::make_unique<Recorder>(i, &log));
        heap.schedule(timers.back().get(), random.bounded(1000));
    }
    // Half of them moved or cancelled.
    for (int i = 0; i < 5000; i += 2) {
        if (i % 4 == 0)
            heap.cancel(timers[size_t(i)].get());
        else
            heap.schedule(timers[size_t(i)].get(), random.bounded(1000));
    }
    for (const auto &timer : timers) {
        if (timer->isScheduled())
            expected.push_back({timer->dueUs(), timer->name});
    }
    qint64 last = -1;
    for (qint64 now = 0; now < 1000; now += 7) {
        heap.runDue(now);
        QVERIFY(heap.isEmpty() || heap.nextDueUs() > now);
        last = now;
    }
    heap.runDue(last + 1000);
    QVERIFY(heap.isEmpty());
    QCOMPARE(log.size(), expected.size());
    // Each fired no earlier than an earlier-due one.
    std::vector<qint64> dueOf(5000, -1);
    for (const auto &[due, name] : expected)
        dueOf[size_t(name)] = due;
    for (size_t i = 1; i < log.size(); ++i)
        QVERIFY(dueOf[size_t(log[i - 1])] <= dueOf[size_t(log[i])]);
}

void tst_TimerHeap::selfReschedulingFiresOncePerRun()
{
    std::vector<int> log;
    TimerHeap heap;
    Recorder eager(7, &log);
    eager.again = [&heap](Recorder *self) { heap.schedule(self, 0); };
    heap.schedule(&eager, 10);
    QCOMPARE(heap.runDue(100), 1);
    QCOMPARE(heap.runDue(100), 1);
    QCOMPARE(log.size(), size_t(2));
    heap.cancel(&eager);
}

QTEST_GUILESS_MAIN(tst_TimerHeap)
#include "tst_timerheap.moc"
