// The condition syntax users write, the presets' numbers, and the errors
// that name what is wrong.

#include "conditionrule.h"
#include "networkpreset.h"
#include "ruleunits.h"

#include <QTest>

class tst_ConditionRule : public QObject
{
    Q_OBJECT
private slots:
    void parsesEverySetting();
    void unitsOfRates_data();
    void unitsOfRates();
    void errorsNameTheWrongPart_data();
    void errorsNameTheWrongPart();
    void readsBackWhatItWrites();
    void presetsByTheBrowsersNames();
    void laterRulesWinPerSetting();
};

void tst_ConditionRule::parsesEverySetting()
{
    ConditionRule rule;
    QString error;
    QVERIFY2(ConditionRule::parse(QStringLiteral("up:latency=50ms,jitter=500us,bandwidth=2Mbit/s,burst=64KiB,shared,"
                                                 "slice=100,slice-variation=20,slice-delay=2ms,connect-delay=1.5s,"
                                                 "client=10.0.0.0/8;::1,probability=10%"),
                                  &rule, &error),
             qPrintable(error));
    QCOMPARE(rule.direction, ConditionRule::Direction::Up);
    QCOMPARE(rule.conditions.latencyUs, 50'000);
    QCOMPARE(rule.conditions.jitterUs, 500);
    QCOMPARE(rule.conditions.bytesPerSecond, 250'000);
    QCOMPARE(rule.conditions.burstBytes, 65'536);
    QVERIFY(rule.conditions.sharedBandwidth);
    QCOMPARE(rule.conditions.sliceBytes, 100);
    QCOMPARE(rule.conditions.sliceVariation, 20);
    QCOMPARE(rule.conditions.sliceDelayUs, 2'000);
    QCOMPARE(rule.connectDelayUs, 1'500'000);
    QVERIFY(rule.clients.contains(QHostAddress(QStringLiteral("10.2.3.4"))));
    QVERIFY(rule.clients.contains(QHostAddress(QStringLiteral("::ffff:10.2.3.4"))));
    QVERIFY(rule.clients.contains(QHostAddress(QStringLiteral("::1"))));
    QVERIFY(!rule.clients.contains(QHostAddress(QStringLiteral("127.0.0.1"))));
    QCOMPARE(rule.probability, 0.1);
    QVERIFY(rule.covers(true));
    QVERIFY(!rule.covers(false));
}

void tst_ConditionRule::unitsOfRates_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<qint64>("bytesPerSecond");
    QTest::newRow("bare") << "1000" << qint64(1000);
    QTest::newRow("B/s") << "1000000B/s" << qint64(1'000'000);
    QTest::newRow("MB/s") << "1MB/s" << qint64(1'000'000);
    QTest::newRow("KB/s") << "100KB/s" << qint64(100'000);
    QTest::newRow("KiB/s") << "100KiB/s" << qint64(102'400);
    QTest::newRow("MiB/s") << "1.5MiB/s" << qint64(1'572'864);
    QTest::newRow("Mbit/s") << "8Mbit/s" << qint64(1'000'000);
    QTest::newRow("kbps") << "750kbps" << qint64(93'750);
}

void tst_ConditionRule::unitsOfRates()
{
    QFETCH(QString, text);
    QFETCH(qint64, bytesPerSecond);
    qint64 parsed = 0;
    QVERIFY(RuleUnits::parseRate(text, &parsed));
    QCOMPARE(parsed, bytesPerSecond);
}

void tst_ConditionRule::errorsNameTheWrongPart_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("names");
    QTest::newRow("no direction") << "latency=5ms" << "names no direction";
    QTest::newRow("direction") << "sideways:latency=5ms" << "direction 'sideways'";
    QTest::newRow("nothing set") << "down:" << "sets nothing";
    QTest::newRow("rate") << "down:bandwidth=fast" << "bandwidth 'fast' is not a rate";
    QTest::newRow("duration unit") << "down:latency=50" << "latency '50' is not a duration";
    QTest::newRow("duration word") << "down:latency=soon" << "latency 'soon'";
    QTest::newRow("setting") << "down:lag=5ms" << "unknown setting 'lag'";
    QTest::newRow("no value") << "down:latency" << "'latency' has no value";
    QTest::newRow("client") << "down:latency=5ms,client=10.0.0.300" << "'10.0.0.300' is not an address";
    QTest::newRow("probability") << "down:latency=5ms,probability=2" << "probability '2'";
    QTest::newRow("slice delay alone") << "down:slice-delay=2ms" << "need a slice size";
    QTest::newRow("shared alone") << "down:latency=5ms,shared" << "shared needs a bandwidth";
    QTest::newRow("variation") << "down:slice=10,slice-variation=10" << "slice-variation must be smaller";
}

void tst_ConditionRule::errorsNameTheWrongPart()
{
    QFETCH(QString, text);
    QFETCH(QString, names);
    ConditionRule rule;
    rule.probability = 0.5; // untouched by a failed parse
    QString error;
    QVERIFY(!ConditionRule::parse(text, &rule, &error));
    QVERIFY2(error.contains(names), qPrintable(error));
    QCOMPARE(rule.probability, 0.5);
}

void tst_ConditionRule::readsBackWhatItWrites()
{
    for (const char *text : {"down:bandwidth=1MB/s", "both:latency=50ms,jitter=5ms,client=127.0.0.0/8",
                             "up:slice=100,slice-variation=10,slice-delay=2ms,probability=0.25",
                             "both:bandwidth=100KiB/s,burst=1MB,shared,connect-delay=2s"}) {
        ConditionRule rule;
        QString error;
        QVERIFY2(ConditionRule::parse(QString::fromLatin1(text), &rule, &error), qPrintable(error));
        ConditionRule again;
        QVERIFY2(ConditionRule::parse(rule.toText(), &again, &error), qPrintable(rule.toText() + u' ' + error));
        QVERIFY2(again == rule, qPrintable(rule.toText()));
    }
}

void tst_ConditionRule::presetsByTheBrowsersNames()
{
    // Chrome DevTools: Slow 4G is 1.6 Mbit/s × 0.9 down, 750 kbit/s × 0.9
    // up, 150 ms × 3.75.
    const NetworkPreset *slow4g = NetworkPreset::find(QStringLiteral("slow-4g"));
    QVERIFY(slow4g);
    QCOMPARE(slow4g->name, QStringLiteral("Slow 4G"));
    QCOMPARE(slow4g->downBytesPerSecond, 180'000);
    QCOMPARE(slow4g->upBytesPerSecond, 84'375);
    QCOMPARE(slow4g->roundTripUs, 562'500);
    const QList<ConditionRule> rules = slow4g->rules();
    QCOMPARE(rules.size(), 2);
    QCOMPARE(rules[0].direction, ConditionRule::Direction::Up);
    QCOMPARE(rules[0].conditions.bytesPerSecond, 84'375);
    QCOMPARE(rules[1].conditions.bytesPerSecond, 180'000);
    QCOMPARE(rules[0].conditions.latencyUs + rules[1].conditions.latencyUs, 562'500);
    QVERIFY(rules[1].conditions.sharedBandwidth);
    // Firefox counts 1024 bits to its "K".
    const NetworkPreset *lte = NetworkPreset::find(QStringLiteral("Regular 4G / LTE"));
    QVERIFY(lte);
    QCOMPARE(lte->downBytesPerSecond, 4 * 1024 * 1024 / 8);
    QCOMPARE(lte->roundTripUs, 20'000);
    QVERIFY(NetworkPreset::find(QStringLiteral("3g")));
    QVERIFY(NetworkPreset::find(QStringLiteral("WIFI")));
    QVERIFY(!NetworkPreset::find(QStringLiteral("5G")));
    QVERIFY(NetworkPreset::names().contains(QStringLiteral("\"Fast 4G\"")));
}

void tst_ConditionRule::laterRulesWinPerSetting()
{
    FlowConditions down;
    ConditionRule latency;
    ConditionRule bandwidth;
    ConditionRule faster;
    QString error;
    QVERIFY(ConditionRule::parse(QStringLiteral("both:latency=50ms"), &latency, &error));
    QVERIFY(ConditionRule::parse(QStringLiteral("down:bandwidth=1MB/s"), &bandwidth, &error));
    QVERIFY(ConditionRule::parse(QStringLiteral("down:bandwidth=2MB/s"), &faster, &error));
    for (const ConditionRule *rule : {&latency, &bandwidth, &faster})
        down.combine(rule->conditions);
    QCOMPARE(down.latencyUs, 50'000);
    QCOMPARE(down.bytesPerSecond, 2'000'000);
}

QTEST_GUILESS_MAIN(tst_ConditionRule)
#include "tst_conditionrule.moc"
