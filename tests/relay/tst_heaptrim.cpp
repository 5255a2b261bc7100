// When the heap is trimmed: once per quiet spell after work, never while
// the workers report, never twice without work between.

#include "heaptrim.h"

#include <QTest>

class TestHeapTrim : public QObject
{
    Q_OBJECT

private slots:
    void nothingBeforeAnyWork()
    {
        HeapTrim trim;
        for (qint64 ms = 0; ms <= 10 * HeapTrim::QuietMs; ms += 50)
            QVERIFY(!trim.due(false, ms));
    }

    void onceTheWorkersWereQuietLongEnough()
    {
        HeapTrim trim;
        QVERIFY(!trim.due(true, 1000));
        QVERIFY(!trim.due(false, 1050));
        QVERIFY(!trim.due(false, 1000 + HeapTrim::QuietMs - 1));
        QVERIFY(trim.due(false, 1000 + HeapTrim::QuietMs));
        // Once: the quiet goes on, nothing more to give back.
        for (qint64 ms = 1000 + HeapTrim::QuietMs + 50; ms < 20000; ms += 50)
            QVERIFY(!trim.due(false, ms));
    }

    void workInTheQuietStartsItAgain()
    {
        HeapTrim trim;
        QVERIFY(!trim.due(true, 0));
        QVERIFY(!trim.due(false, HeapTrim::QuietMs / 2));
        QVERIFY(!trim.due(true, HeapTrim::QuietMs - 10)); // a report: the quiet counts from here
        QVERIFY(!trim.due(false, HeapTrim::QuietMs + 10));
        QVERIFY(trim.due(false, 2 * HeapTrim::QuietMs - 10));
        // The next burst earns the next trim.
        QVERIFY(!trim.due(true, 5000));
        QVERIFY(!trim.due(false, 5000 + HeapTrim::QuietMs - 1));
        QVERIFY(trim.due(false, 5000 + HeapTrim::QuietMs));
    }

    void neverWhileBusy()
    {
        HeapTrim trim;
        for (qint64 ms = 0; ms <= 10 * HeapTrim::QuietMs; ms += 50)
            QVERIFY(!trim.due(true, ms));
    }
};

QTEST_GUILESS_MAIN(TestHeapTrim)
#include "tst_heaptrim.moc"
