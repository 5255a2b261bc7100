// The fault syntax users write, the rules file, and the errors that name
// what is wrong.

#include "faultrule.h"
#include "httpheadparser.h"
#include "ruleset.h"

#include <QTest>

using Kind = FaultAction::Kind;
using Target = FaultAction::Target;

class tst_FaultRule : public QObject
{
    Q_OBJECT
private slots:
    void parsesTheIssuesExample();
    void triggers();
    void actions();
    void httpFaults();
    void httpFaultsCount();
    void errorsNameTheWrongPart_data();
    void errorsNameTheWrongPart();
    void rulesFile();
    void rulesFileErrors_data();
    void rulesFileErrors();
};

void tst_FaultRule::parsesTheIssuesExample()
{
    FaultRule rule;
    QString error;
    QVERIFY2(FaultRule::parse(QStringLiteral("reset:after=5s,probability=0.1,client=127.0.0.0/8"), &rule, &error),
             qPrintable(error));
    QCOMPARE(rule.action.kind, Kind::Reset);
    QCOMPARE(rule.action.target, Target::Both);
    QCOMPARE(rule.trigger, FaultRule::Trigger::Delay);
    QCOMPARE(rule.delayUs, 5'000'000);
    QCOMPARE(rule.probability, 0.1);
    QVERIFY(rule.clients.contains(QHostAddress(QStringLiteral("127.0.0.1"))));
    QCOMPARE(rule.summary(), QStringLiteral("reset both sides after 5s"));
}

void tst_FaultRule::triggers()
{
    FaultRule rule;
    QString error;
    QVERIFY(FaultRule::parse(QStringLiteral("close"), &rule, &error));
    QCOMPARE(rule.trigger, FaultRule::Trigger::Accept);
    QVERIFY(FaultRule::parse(QStringLiteral("close:after-up=64KiB"), &rule, &error));
    QCOMPARE(rule.trigger, FaultRule::Trigger::Bytes);
    QCOMPARE(rule.bytesToward, Target::Upstream);
    QCOMPARE(rule.bytes, quint64(65'536));
    QVERIFY(FaultRule::parse(QStringLiteral("reset:side=client,on=first-data"), &rule, &error));
    QCOMPARE(rule.trigger, FaultRule::Trigger::FirstData);
    QCOMPARE(rule.action.target, Target::Client);
    QCOMPARE(rule.summary(), QStringLiteral("reset the client on the first data"));
}

void tst_FaultRule::actions()
{
    FaultRule rule;
    QString error;
    QVERIFY(FaultRule::parse(QStringLiteral("half-close:toward=upstream"), &rule, &error));
    QCOMPARE(rule.action.kind, Kind::HalfClose);
    QCOMPARE(rule.action.target, Target::Upstream);
    QVERIFY(FaultRule::parse(QStringLiteral("stall:dir=down,for=2s"), &rule, &error));
    QCOMPARE(rule.action.kind, Kind::Stall);
    QCOMPARE(rule.action.target, Target::Client);
    QCOMPARE(rule.action.durationUs, 2'000'000);
    QCOMPARE(rule.summary(), QStringLiteral("stall down for 2s"));
    QVERIFY(FaultRule::parse(QStringLiteral("blackhole"), &rule, &error));
    QCOMPARE(rule.action.target, Target::Both);
    QVERIFY(FaultRule::parse(QStringLiteral("limit:dir=up,bytes=1000,then=reset"), &rule, &error));
    QCOMPARE(rule.action.kind, Kind::Limit);
    QCOMPARE(rule.action.target, Target::Upstream);
    QCOMPARE(rule.action.bytes, quint64(1000));
    QCOMPARE(rule.action.then, Kind::Reset);
    QCOMPARE(rule.summary(), QStringLiteral("limit up to 1KB, then reset"));
    QVERIFY(FaultRule::parse(QStringLiteral("refuse:for=10s,after=30s"), &rule, &error));
    QVERIFY(rule.refuse);
    QCOMPARE(rule.action.durationUs, 10'000'000);
    QCOMPARE(rule.delayUs, 30'000'000);
    QCOMPARE(rule.summary(), QStringLiteral("refuse new connections for 10s after 30s"));
}

namespace {

HttpHead request(const QByteArray &text)
{
    return HttpHeadParser::parse(text, HttpHead::Kind::Request, 100, false);
}

} // namespace

void tst_FaultRule::httpFaults()
{
    FaultRule rule;
    QString error;
    QVERIFY2(FaultRule::parse(QStringLiteral("status:code=503,method=POST,path=^/api/,client=127.0.0.0/8"), &rule, &error),
             qPrintable(error));
    QVERIFY(rule.http);
    QCOMPARE(rule.http->kind(), HttpFault::Kind::Status);
    QCOMPARE(rule.http->status(), 503);
    QVERIFY(!rule.clients.isEmpty());
    QCOMPARE(rule.summary(), QStringLiteral("answer 503 to every POST request for ^/api/"));
    QVERIFY(rule.http->matches(request("POST /api/orders HTTP/1.1\r\nHost: a\r\n\r\n")));
    QVERIFY(rule.http->matches(request("POST http://a.test/api/x?y HTTP/1.1\r\nHost: a\r\n\r\n")));
    QVERIFY(!rule.http->matches(request("GET /api/orders HTTP/1.1\r\nHost: a\r\n\r\n")));
    QVERIFY(!rule.http->matches(request("POST /v2/api/ HTTP/1.1\r\nHost: a\r\n\r\n")));

    QVERIFY2(FaultRule::parse(QStringLiteral("delay-head:delay=2s,host=*.example.com"), &rule, &error), qPrintable(error));
    QCOMPARE(rule.http->delayUs(), 2'000'000);
    QCOMPARE(rule.summary(), QStringLiteral("delay the response head by 2s to every request to *.example.com"));
    QVERIFY(rule.http->matches(request("GET / HTTP/1.1\r\nHost: WWW.Example.com:8080\r\n\r\n")));
    QVERIFY(rule.http->matches(request("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")));
    QVERIFY(!rule.http->matches(request("GET / HTTP/1.1\r\nHost: badexample.com\r\n\r\n")));

    QVERIFY2(FaultRule::parse(QStringLiteral("cut-body:bytes=1KiB,then=reset,header=Accept:json"), &rule, &error),
             qPrintable(error));
    QCOMPARE(rule.http->bodyBytes(), quint64(1024));
    QVERIFY(rule.http->resetsAfterCut());
    QVERIFY(rule.http->matches(request("GET / HTTP/1.1\r\naccept: application/json\r\n\r\n")));
    QVERIFY(!rule.http->matches(request("GET / HTTP/1.1\r\nAccept: text/html\r\n\r\n")));
    QVERIFY(!rule.http->matches(request("GET / HTTP/1.1\r\n\r\n")));

    QVERIFY2(FaultRule::parse(QStringLiteral("no-response:probability=0.5"), &rule, &error), qPrintable(error));
    QCOMPARE(rule.http->kind(), HttpFault::Kind::NoResponse);
    QCOMPARE(rule.probability, 0.5);
    QCOMPARE(rule.summary(), QStringLiteral("send no response to every request"));
}

void tst_FaultRule::httpFaultsCount()
{
    // Counted across the copies a rule has (one per worker).
    FaultRule rule;
    QString error;
    QVERIFY(FaultRule::parse(QStringLiteral("status:code=500,first=2"), &rule, &error));
    const FaultRule copy = rule;
    QCOMPARE(QList<bool>({rule.http->takes(), copy.http->takes(), rule.http->takes()}), QList<bool>({true, true, false}));
    QVERIFY(FaultRule::parse(QStringLiteral("status:code=500,every=3"), &rule, &error));
    QList<bool> taken;
    for (int i = 0; i < 6; ++i)
        taken.append(rule.http->takes());
    QCOMPARE(taken, QList<bool>({false, false, true, false, false, true}));
    QCOMPARE(rule.summary(), QStringLiteral("answer 500 to one request in 3"));
    // Put in force again, the rules count from zero.
    RuleSet rules;
    rules.faults.append(rule);
    rules.prepare();
    QCOMPARE(QList<bool>({rules.faults[0].http->takes(), rules.faults[0].http->takes(), rules.faults[0].http->takes()}),
             QList<bool>({false, false, true}));
}

void tst_FaultRule::errorsNameTheWrongPart_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("names");
    QTest::newRow("kind") << "explode" << "'explode' is not a fault";
    QTest::newRow("throttle is a condition") << "throttle" << "'throttle' is not a fault";
    QTest::newRow("no value") << "reset:after" << "'after' has no value";
    QTest::newRow("side") << "reset:side=left" << "side 'left' is not client, upstream or both";
    QTest::newRow("dir") << "stall:dir=sideways" << "dir 'sideways' is not up, down or both";
    QTest::newRow("duration") << "reset:after=soon" << "after 'soon' is not a duration";
    QTest::newRow("bytes") << "close:after-down=lots" << "after-down 'lots' is not a byte count";
    QTest::newRow("then") << "limit:bytes=10,then=explode" << "then 'explode'";
    QTest::newRow("on") << "reset:on=connect" << "on 'connect' is not first-data";
    QTest::newRow("half-close toward") << "half-close" << "half-close needs toward=";
    QTest::newRow("limit bytes") << "limit:dir=down" << "limit needs bytes=N";
    QTest::newRow("setting") << "reset:when=5s" << "unknown setting 'when'";
    QTest::newRow("client") << "reset:client=nowhere" << "'nowhere' is not an address";
    QTest::newRow("probability") << "reset:probability=150%" << "probability '150%'";
    QTest::newRow("refuse for") << "refuse:after=5s" << "refuse needs for=DURATION";
    QTest::newRow("http kind") << "stat:code=500" << "for HTTP: status, delay-head, cut-body, no-response";
    QTest::newRow("status code") << "status" << "status needs code=NNN";
    QTest::newRow("status range") << "status:code=99" << "code '99' is not a final HTTP status";
    QTest::newRow("delay") << "delay-head:delay=later" << "delay 'later' is not a duration";
    QTest::newRow("delay needed") << "delay-head:path=/" << "delay-head needs delay=DURATION";
    QTest::newRow("cut bytes") << "cut-body" << "cut-body needs bytes=N";
    QTest::newRow("cut then") << "cut-body:bytes=5,then=half-close" << "then 'half-close' is not close or reset";
    QTest::newRow("path") << "status:code=503,path=(" << "path '(' is not a regular expression";
    QTest::newRow("header") << "no-response:header=:x" << "header ':x' names no header";
    QTest::newRow("first") << "no-response:first=0" << "first '0' is not a whole number above 0";
    QTest::newRow("first and every") << "no-response:first=1,every=2" << "first= and every= do not go together";
    QTest::newRow("http trigger") << "status:code=503,after=5s" << "unknown setting 'after' for status";
    QTest::newRow("refuse whom") << "refuse:for=5s,client=10.0.0.0/8" << "refuse takes for= and after= only";
}

void tst_FaultRule::errorsNameTheWrongPart()
{
    QFETCH(QString, text);
    QFETCH(QString, names);
    FaultRule rule;
    rule.probability = 0.5;
    QString error;
    QVERIFY(!FaultRule::parse(text, &rule, &error));
    QVERIFY2(error.contains(names), qPrintable(error));
    QCOMPARE(rule.probability, 0.5);
}

void tst_FaultRule::rulesFile()
{
    RuleSet rules;
    QString error;
    QVERIFY2(RuleSet::parse(R"({"preset": "Slow 4G", "conditions": ["both:latency=50ms"],
                                "faults": ["reset:after=5s", "stall:dir=up,on=first-data"]})",
                            &rules, &error),
             qPrintable(error));
    QCOMPARE(rules.conditions.size(), 3); // the preset's two first
    QCOMPARE(rules.conditions[0].conditions.bytesPerSecond, 84'375);
    QCOMPARE(rules.conditions[2].conditions.latencyUs, 50'000);
    QCOMPARE(rules.faults.size(), 2);
    QCOMPARE(rules.faults[1].trigger, FaultRule::Trigger::FirstData);
    QVERIFY(RuleSet::parse("{}", &rules, &error));
    QVERIFY(rules.isEmpty());
}

void tst_FaultRule::rulesFileErrors_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("names");
    QTest::newRow("not json") << QByteArray("{\"faults\": [") << "not JSON at byte";
    QTest::newRow("not an object") << QByteArray("[]") << "not a JSON object";
    QTest::newRow("unknown key") << QByteArray(R"({"fault": []})") << "unknown key \"fault\"";
    QTest::newRow("not a list") << QByteArray(R"({"faults": "reset"})") << "\"faults\" must be a list of strings";
    QTest::newRow("not a string") << QByteArray(R"({"conditions": [5]})") << "\"conditions\"[0] is not a string";
    QTest::newRow("bad rule") << QByteArray(R"({"conditions": ["down:latency=5ms", "down:bandwidth=fast"]})")
                              << "\"conditions\"[1] 'down:bandwidth=fast': bandwidth 'fast' is not a rate";
    QTest::newRow("bad preset") << QByteArray(R"({"preset": "6G"})") << "no preset is called '6G'";
}

void tst_FaultRule::rulesFileErrors()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, names);
    RuleSet rules;
    rules.faults.append(FaultRule()); // untouched by a failed parse
    QString error;
    QVERIFY(!RuleSet::parse(json, &rules, &error));
    QVERIFY2(error.contains(names), qPrintable(error));
    QCOMPARE(rules.faults.size(), 1);
}

QTEST_GUILESS_MAIN(tst_FaultRule)
#include "tst_faultrule.moc"
