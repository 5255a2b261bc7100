// The window takes the engine's batches in bounded slices: a burst of
// thousands of records reaches the store over several turns of the event
// loop, in order, with each batch's exchanges after its last record.

#include "batchintake.h"

#include <QTest>

class tst_BatchIntake : public QObject
{
    Q_OBJECT
private slots:
    void smallBatchesPassAtOnce();
    void burstPassesInSlicesInOrder();
    void heldBatchesWaitAndClearForgets();
};

namespace {

QList<ConnectionRecord> recordsFrom(quint64 first, qsizetype count)
{
    QList<ConnectionRecord> records;
    for (qsizetype i = 0; i < count; ++i) {
        ConnectionRecord record;
        record.id = first + quint64(i);
        records.append(record);
    }
    return records;
}

HttpExchange exchangeOf(quint64 connection)
{
    HttpExchange exchange;
    exchange.connectionId = connection;
    return exchange;
}

// What reached the sink, slice by slice.
struct Taken
{
    QList<qsizetype> sliceSizes;
    QList<quint64> ids;
    QList<qsizetype> exchangesAfter; // records taken when each exchange came
    BatchIntake::Sink sink()
    {
        return [this](const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges) {
            sliceSizes.append(records.size());
            for (const ConnectionRecord &record : records)
                ids.append(record.id);
            for (qsizetype i = 0; i < exchanges.size(); ++i)
                exchangesAfter.append(ids.size());
        };
    }
};

} // namespace

void tst_BatchIntake::smallBatchesPassAtOnce()
{
    Taken taken;
    BatchIntake intake(taken.sink());
    intake.push(recordsFrom(1, 10), {exchangeOf(1)});
    // No turn of the event loop needed.
    QCOMPARE(taken.sliceSizes, QList<qsizetype>{10});
    QCOMPARE(taken.exchangesAfter, QList<qsizetype>{10});
}

void tst_BatchIntake::burstPassesInSlicesInOrder()
{
    Taken taken;
    BatchIntake intake(taken.sink());
    // Two workers' batches in one publish: the first fits, the second is
    // a burst.
    const qsizetype slice = BatchIntake::RecordsPerTurn;
    intake.push(recordsFrom(1, 300), {exchangeOf(5)});
    intake.push(recordsFrom(301, 2 * slice + 100), {exchangeOf(400), exchangeOf(401)});
    QCOMPARE(taken.sliceSizes, QList<qsizetype>{300});
    QVERIFY(!intake.isEmpty());
    QTRY_VERIFY(intake.isEmpty());
    // No turn passed more than a slice, and every record came once, in order.
    QCOMPARE(taken.sliceSizes, (QList<qsizetype>{300, slice, slice, 100}));
    QCOMPARE(taken.ids.size(), 300 + 2 * slice + 100);
    for (qsizetype i = 0; i < taken.ids.size(); ++i)
        QCOMPARE(taken.ids[i], quint64(i + 1));
    // The burst's exchanges came with its last records, not before.
    QCOMPARE(taken.exchangesAfter, (QList<qsizetype>{300, taken.ids.size(), taken.ids.size()}));
}

void tst_BatchIntake::heldBatchesWaitAndClearForgets()
{
    Taken taken;
    BatchIntake intake(taken.sink());
    intake.hold(true);
    intake.push(recordsFrom(1, 5), {});
    QTest::qWait(50);
    QVERIFY(taken.ids.isEmpty());
    intake.hold(false);
    QTRY_COMPARE(taken.ids.size(), 5);
    // Held again, then the capture is cleared: what waited is gone.
    intake.hold(true);
    intake.push(recordsFrom(6, 5), {});
    intake.clear();
    intake.hold(false);
    QTest::qWait(50);
    QCOMPARE(taken.ids.size(), 5);
    // And a new batch passes as usual.
    intake.push(recordsFrom(20, 3), {});
    QTRY_COMPARE(taken.ids.size(), 8);
}

QTEST_GUILESS_MAIN(tst_BatchIntake)
#include "tst_batchintake.moc"
