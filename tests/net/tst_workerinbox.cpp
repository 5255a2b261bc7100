// A worker's inbox under other threads' posts: the worker sleeps on the
// eventfd as its epoll loop does (poll() here) and takes batches; no post
// is ever left waiting without a wake-up, whatever the interleaving.

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
    void aWakeUpAfterItsItemsWereTakenIsOneEmptyBatch();
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
    while (taken < Posters * PostsEach && clock.elapsed() < 20'000) {
        pollfd wait{inbox.eventDescriptor(), POLLIN, 0};
        if (::poll(&wait, 1, 1000) <= 0)
            break; // asleep with posts outstanding: a lost wake-up
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
    // Batched: far fewer wake-ups than posts.
    QVERIFY2(batches < Posters * PostsEach, qPrintable(QString::number(batches)));
}

void tst_WorkerInbox::aWakeUpAfterItsItemsWereTakenIsOneEmptyBatch()
{
    WorkerInbox inbox;
    inbox.postClose(1);
    inbox.postClose(2); // no second wake-up for the same batch
    pollfd wait{inbox.eventDescriptor(), POLLIN, 0};
    QCOMPARE(::poll(&wait, 1, 0), 1);
    QCOMPARE(inbox.take().close.size(), size_t(2));
    // The wake-up is cleared with the take: the worker sleeps again.
    QCOMPARE(::poll(&wait, 1, 0), 0);
    inbox.postClose(3);
    QCOMPARE(::poll(&wait, 1, 0), 1);
    QCOMPARE(inbox.take().close.size(), size_t(1));
    QCOMPARE(::poll(&wait, 1, 0), 0);
    QVERIFY(inbox.take().close.empty());
}

QTEST_GUILESS_MAIN(tst_WorkerInbox)
#include "tst_workerinbox.moc"
