// A connection's rate over time as the window draws it, from the records
// the batches bring; and the few words its row says about its end.

#include "lifesummary.h"
#include "ratehistory.h"

#include <QTest>

using Kind = TimelineMark::Kind;
using Lane = TimelineMark::Lane;

class tst_RateHistory : public QObject
{
    Q_OBJECT
private slots:
    void burstAfterIdleStaysABurst();
    void steadyStreamReadsSteady();
    void longLifeIsBoundedAndKeepsItsTotals();
    void compactEndsInWords();
};

void tst_RateHistory::burstAfterIdleStaysABurst()
{
    // Quiet for five seconds, then 100,000 bytes: a record comes only when
    // something changed, so they came within the last batch, not spread
    // over the quiet.
    RateHistory history;
    history.add(10'000, 0, 0);
    history.add(5'000'000, 0, 100'000);
    QList<float> up;
    QList<float> down;
    history.rates(0, 5'000'000, 5, &up, &down);
    QCOMPARE(down.size(), 5);
    for (int i = 0; i < 4; ++i)
        QCOMPARE(down[i], 0.0f);
    QCOMPARE(down[4], 100'000.0f);
    for (const float rate : up)
        QCOMPARE(rate, 0.0f);
    QCOMPARE(history.bytesAt(4'950'000, 1), 0.0);
    QCOMPARE(history.bytesAt(4'975'000, 1), 50'000.0);
}

void tst_RateHistory::steadyStreamReadsSteady()
{
    // 5,000 bytes up and 10,000 down per 50 ms batch for 10 s.
    RateHistory history;
    for (int i = 1; i <= 200; ++i)
        history.add(qint64(i) * 50'000, quint64(i) * 5'000, quint64(i) * 10'000);
    QList<float> up;
    QList<float> down;
    history.rates(0, 10'000'000, 10, &up, &down);
    for (int i = 0; i < 10; ++i) {
        QVERIFY(qAbs(up[i] - 100'000.0f) < 1.0f);
        QVERIFY(qAbs(down[i] - 200'000.0f) < 1.0f);
    }
    // A window past the end: nothing more came.
    history.rates(10'000'000, 12'000'000, 2, &up, &down);
    QCOMPARE(down[0], 0.0f);
    QCOMPARE(down[1], 0.0f);
}

void tst_RateHistory::longLifeIsBoundedAndKeepsItsTotals()
{
    // An hour of batches: far more records than points kept.
    RateHistory history;
    const int batches = 72'000;
    for (int i = 1; i <= batches; ++i) {
        // A burst every 100th batch on top of a steady 1,000 bytes.
        const quint64 bytes = quint64(i) * 1'000 + quint64(i / 100) * 50'000;
        history.add(qint64(i) * 50'000, 0, bytes);
    }
    QVERIFY(history.points().size() <= RateHistory::MaxPoints);
    const quint64 total = quint64(batches) * 1'000 + quint64(batches / 100) * 50'000;
    QCOMPARE(history.bytesAt(history.lastUs(), 1), double(total));
    QCOMPARE(history.points().constLast().bytes[1], total);
    // Coarser, but a minute still reads the same average rate.
    QList<float> up;
    QList<float> down;
    history.rates(600'000'000, 660'000'000, 1, &up, &down);
    const double expected = (1'000.0 * 1200 + 50'000.0 * 12) / 60.0;
    QVERIFY2(qAbs(down[0] - expected) < expected * 0.05, qPrintable(QString::number(down[0])));
}

void tst_RateHistory::compactEndsInWords()
{
    const auto mark = [](qint64 atUs, Kind kind, Lane lane) {
        TimelineMark mark;
        mark.atUs = atUs;
        mark.kind = kind;
        mark.lane = lane;
        return mark;
    };
    ConnectionRecord record;
    record.timeline.marks = {mark(0, Kind::Accepted, Lane::Client), mark(200'000, Kind::Fin, Lane::Client),
                             mark(200'050, Kind::FinSent, Lane::Upstream), mark(400'000, Kind::Fin, Lane::Upstream),
                             mark(400'020, Kind::FinSent, Lane::Client), mark(400'030, Kind::Closed, Lane::Connection)};
    record.timeline.lastByteUs[1] = 300'000;
    QCOMPARE(LifeSummary::compact(record), QStringLiteral("C FIN→ · U +100 ms · U FIN→"));

    record.timeline.marks = {mark(0, Kind::Accepted, Lane::Client), mark(100'000, Kind::Reset, Lane::Client),
                             mark(100'010, Kind::ResetSent, Lane::Upstream), mark(100'020, Kind::Closed, Lane::Connection)};
    QCOMPARE(LifeSummary::compact(record), QStringLiteral("C RST→"));

    // An upstream's FIN that proxymon did not pass on (an HTTP proxy keeps
    // the client's connection), and a live connection with nothing yet.
    record.timeline.marks = {mark(0, Kind::Accepted, Lane::Client), mark(50'000, Kind::Fin, Lane::Upstream)};
    record.timeline.lastByteUs[0] = -1;
    QCOMPARE(LifeSummary::compact(record), QStringLiteral("U FIN (held)"));
    record.timeline.marks = {mark(0, Kind::Accepted, Lane::Client)};
    QCOMPARE(LifeSummary::compact(record), QString());
}

QTEST_GUILESS_MAIN(tst_RateHistory)
#include "tst_ratehistory.moc"
