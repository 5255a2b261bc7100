// A worker's inbox under other threads' posts: the worker sleeps on the
// eventfd as its epoll loop does (poll() here) and takes batches; no post
// is ever left waiting without a wake-up, whatever the interleaving, and
// a worker that is awake is not woken.

#include "workerinbox.h"

#include <QElapsedTimer>
#include <QTest>

#include <poll.h>

#include <atomic>
#include <thread>
#include <vector>

class tst_WorkerInbox : public QObject
{
    Q_OBJECT
private slots:
    void everyPostWakesTheWorkerOrIsTakenWithABatch();
    void onlyAWorkerAboutToSleepIsWoken();
};

void tst_WorkerInbox::everyPostWakesTheWorkerOrIsTakenWithABatch()
{
    // Four threads post closes as fast as they can while the worker takes
    // only when woken: a lost wake-up leaves posts behind, and the worker
    // sleeping past its deadline.
    constexpr int Posters = 4;
    constexpr int PostsEach = 20'000;
    WorkerInbox inbox;
    std::atomic<bool> go{false};
    std::vector<std::thread> posters;
    for (int p = 0; p < Posters; ++p) {
        posters.emplace_back([&inbox, &go, p] {
            while (!go.load())
                std::this_thread::yield();
            for (int i = 0; i < PostsEach; ++i)
                inbox.postClose(quint64(p) * PostsEach + quint64(i));
        });
    }
    go = true;
    std::vector<bool> seen(size_t(Posters) * PostsEach, false);
    int taken = 0;
    int batches = 0;
    QElapsedTimer clock;
    clock.start();
    int wakeUps = 0;
    while (taken < Posters * PostsEach && clock.elapsed() < 20'000) {
        // As the worker's loop: what was posted while it was awake is
        // taken without a wait; else it sleeps until a post wakes it.
        if (!inbox.beforeWait(true)) {
            pollfd wait{inbox.eventDescriptor(), POLLIN, 0};
            if (::poll(&wait, 1, 1000) <= 0)
                break; // asleep with posts outstanding: a lost wake-up
            inbox.awake();
            inbox.clearWakeUp();
            ++wakeUps;
        }
        const WorkerInbox::Batch batch = inbox.take();
        ++batches;
        for (const quint64 id : batch.close) {
            QVERIFY(!seen[id]);
            seen[id] = true;
            ++taken;
        }
    }
    for (std::thread &poster : posters)
        poster.join();
    QCOMPARE(taken, Posters * PostsEach);
    // Batched: fewer batches than posts, and fewer wake-ups than batches
    // (posts to an awake worker write none).
    QVERIFY2(batches < Posters * PostsEach, qPrintable(QString::number(batches)));
    QVERIFY2(wakeUps <= batches, qPrintable(QStringLiteral("%1 of %2").arg(wakeUps).arg(batches)));
}

void tst_WorkerInbox::onlyAWorkerAboutToSleepIsWoken()
{
    WorkerInbox inbox;
    pollfd wait{inbox.eventDescriptor(), POLLIN, 0};
    // Awake (it has not said it will sleep): a post writes no wake-up, and
    // the worker finds it before it waits.
    inbox.postClose(1);
    QCOMPARE(::poll(&wait, 1, 0), 0);
    QVERIFY(inbox.beforeWait(true));
    QCOMPARE(inbox.take().close.size(), size_t(1));

    // About to sleep: the first post wakes it, the next joins the batch.
    QVERIFY(!inbox.beforeWait(true));
    inbox.postClose(2);
    inbox.postClose(3);
    QCOMPARE(::poll(&wait, 1, 0), 1);
    inbox.awake();
    inbox.clearWakeUp();
    QCOMPARE(::poll(&wait, 1, 0), 0);
    QCOMPARE(inbox.take().close.size(), size_t(2));

    // Awake again after its wait: no wake-up until it says it sleeps.
    inbox.postClose(4);
    QCOMPARE(::poll(&wait, 1, 0), 0);
    // A wait that cannot block (timeout 0) asks for none either; the post
    // is found before the next wait.
    QVERIFY(inbox.beforeWait(false));
    QCOMPARE(inbox.take().close.size(), size_t(1));
    QVERIFY(!inbox.beforeWait(false));
    inbox.postClose(5);
    QCOMPARE(::poll(&wait, 1, 0), 0);
    QVERIFY(inbox.beforeWait(true));
    QCOMPARE(inbox.take().close.size(), size_t(1));
}

QTEST_GUILESS_MAIN(tst_WorkerInbox)
#include "tst_workerinbox.moc"
