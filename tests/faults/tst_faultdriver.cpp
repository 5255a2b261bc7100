#include "conditionrule.h"
#include "faultdriver.h"
#include "faultrule.h"
#include "httpfaultgate.h"
#include "faulttarget.h"
#include "flow.h"
#include "legpair.h"
#include "monotonicclock.h"
#include "pipepool.h"
#include "timerheap.h"

#include <QHostAddress>
#include <QTest>

#include <functional>
#include <random>
#include <vector>

namespace {

constexpr int Capacity = 16 * 1024;

// A connection as small as a FaultTarget allows: two real loopback legs,
// the two flows between them driven as a worker drives them, and what the
// faults did to it kept for the test to read. Its FINs pass as a
// forwarding connection passes them.
class FakeConnection final : public FaultTarget
{
public:
    FakeConnection()
    {
        up.setSpliceAllowed(false);
        down.setSpliceAllowed(false);
    }
    ~FakeConnection() { faults.stop(); }

    // Pumps, flushes and runs the timers until done() or 10 s.
    // Relays as a connection would until done() or timeoutMs; false on
    // the timeout.
    bool drive(const std::function<bool()> &done, int timeoutMs = 10'000)
    {
        QElapsedTimer clock;
        clock.start();
        while (!done()) {
            if (clock.elapsed() > timeoutMs)
                return false;
            pollfd ready[2] = {{client.leg.descriptor(), POLLIN | POLLOUT | POLLRDHUP, 0},
                               {upstream.leg.descriptor(), POLLIN | POLLOUT | POLLRDHUP, 0}};
            ::poll(ready, 2, 10);
            heap.runDue(MonotonicClock::nowUs());
            for (Flow *flow : {&up, &down}) {
                if (finished)
                    break;
                if (flow->pending())
                    settle(*flow, flow->flush());
                else if (!flow->ended())
                    settle(*flow, flow->pump());
            }
        }
        return true;
    }

    // FaultTarget
    Flow &flowTo(Side toward) override { return toward == Flow::Client ? down : up; }
    bool isFinished() const override { return finished; }
    bool isRelaying() const override { return !finished; }
    void conditionsChanged(Flow &flow) override
    {
        ++changes;
        settle(flow, flow.resume());
    }
    // As a forwarding connection acts on its flows' results.
    bool settle(Flow &flow, const FlowResult &result) override
    {
        using Event = FlowResult::Event;
        if (finished)
            return false;
        if (result.has(Event::FirstBytes))
            faults.firstBytes();
        if (result.has(Event::FirstHeld) && !finished)
            return settle(flow, flow.resume());
        if (result.has(Event::Ended) && !finished) {
            flow.markEnded();
            if (!flow.pending())
                passFin(flow);
        }
        if (result.has(Event::Failed) && !finished)
            endByFault(QString::fromLocal8Bit(strerror(result.error)), false);
        if (result.has(Event::LimitReached) && !finished)
            faults.limitReached(flow, result.limitsMet);
        if (result.has(Event::FinDue) && !finished)
            passFin(flow);
        return !finished;
    }
    void resetSide(Side side) override
    {
        Leg &leg = legOf(side);
        if (!leg.isOpen())
            return;
        flowTo(side).uncountUnacknowledged();
        leg.close(true);
        ++resets[side];
    }
    void passFin(Flow &flow) override
    {
        if (flow.finPassed())
            return;
        flow.markFinPassed();
        legOf(flow.to()).shutdownWrite();
    }
    void endByFault(const QString &why, bool drain) override
    {
        finished = true;
        endWhy = why;
        drained = drain;
        faults.stop();
        up.release(true);
        down.release(true);
        client.leg.close(false);
        upstream.leg.close(false);
    }
    void markFault(qint32, const QString &why) override { marks.append(why); }
    void describeConditions(const QString &text) override { conditions = text; }
    void filterStopChanged(Flow &flow) override
    {
        const HttpFaultGate *gate = faults.httpGate();
        flow.takeFilterStop(gate ? gate->stopAt(flow.fromClient()) : Flow::NoLimit);
    }

    LegPair client;
    LegPair upstream;
    void wakeUp() { settle(up, up.wake()); }
    void wakeDown() { settle(down, down.wake()); }
    MemberTimer<FakeConnection, &FakeConnection::wakeUp> upDue{*this};
    MemberTimer<FakeConnection, &FakeConnection::wakeDown> downDue{*this};
    std::vector<char> scratch = std::vector<char>(Capacity);
    PipePool pipes{Capacity};
    TimerHeap heap;
    Flow::Shared shared{scratch.data(), Capacity, &pipes, nullptr, &heap};
    Flow up{Flow::Client, client.leg, upstream.leg, shared, &upDue};
    Flow down{Flow::Upstream, upstream.leg, client.leg, shared, &downDue};
    std::mt19937 randomness{20261206};
    FaultDriver faults{*this, shared, randomness};

    bool finished = false;
    bool drained = false;
    QString endWhy;
    QString conditions;
    QStringList marks;
    int resets[2] = {0, 0};
    int changes = 0;

private:
    Leg &legOf(Side side) { return side == Flow::Client ? static_cast<Leg &>(client.leg) : upstream.leg; }
};

FaultAction action(FaultAction::Kind kind, FaultAction::Target target)
{
    FaultAction action;
    action.kind = kind;
    action.target = target;
    return action;
}

// The record's words for a rule's draw.
QString drawNote(const QString &conditions)
{
    for (const QString &part : conditions.split(QStringLiteral("; ")))
        if (part.contains(QStringLiteral("drew")))
            return part;
    return QString();
}

} // namespace

// The fault driver against a fake connection: what each fault does to the
// bytes and the ends the two peers see, and what the record says.
class tst_FaultDriver : public QObject
{
    Q_OBJECT
private slots:
    void limitThenResetDeliversExactlyTheLimit();
    void halfCloseTowardTheClientKeepsTheUploadFlowing();
    void aResumeEndsAStallNotAHalfClose();
    void cleanCloseDeliversWhatIsHeldThenFinsBothWays();
    void stallForADurationResumesByItself();
    void aRuleIsDrawnOncePerConnection();
    void firstDataRuleFiresBeforeTheBytesGo();
    void firstDataBlackHoleSwallowsTheFirstBytes();
};

void tst_FaultDriver::limitThenResetDeliversExactlyTheLimit()
{
    FakeConnection connection;
    FaultAction limit = action(FaultAction::Kind::Limit, FaultAction::Target::Upstream);
    limit.bytes = 5;
    limit.then = FaultAction::Kind::Reset;
    connection.faults.act(limit, QStringLiteral("by the test"));
    QVERIFY2(connection.conditions.startsWith(QStringLiteral("up at 5")), qPrintable(connection.conditions));
    QVERIFY(Loopback::sendAll(connection.client.peer.fd(), "0123456789abcdef"));
    QVERIFY(connection.drive([&] { return connection.finished; }));
    int error = 0;
    QCOMPARE(Loopback::readUntilEof(connection.upstream.peer.fd(), &error), QByteArray("01234"));
    QCOMPARE(error, ECONNRESET);
    Loopback::readUntilEof(connection.client.peer.fd(), &error);
    QCOMPARE(error, ECONNRESET);
    QCOMPARE(connection.resets[Flow::Client], 1);
    QCOMPARE(connection.resets[Flow::Upstream], 1);
    QVERIFY2(connection.endWhy.contains(QStringLiteral("by the test")), qPrintable(connection.endWhy));
    QCOMPARE(connection.marks.size(), 1);
}

void tst_FaultDriver::halfCloseTowardTheClientKeepsTheUploadFlowing()
{
    FakeConnection connection;
    connection.faults.act(action(FaultAction::Kind::HalfClose, FaultAction::Target::Client), QStringLiteral("by the test"));
    QVERIFY(connection.drive([&] { return connection.down.finPassed(); }));
    int error = -1;
    QCOMPARE(Loopback::readUntilEof(connection.client.peer.fd(), &error), QByteArray());
    QCOMPARE(error, 0);
    QVERIFY2(connection.conditions.contains(QStringLiteral("half-closed toward client")), qPrintable(connection.conditions));
    // The other direction is untouched: the client's bytes and FIN still go.
    QVERIFY(Loopback::sendAll(connection.client.peer.fd(), "still uploading"));
    connection.client.peer.shutdownWrite();
    QVERIFY(connection.drive([&] { return connection.up.finPassed(); }));
    QCOMPARE(Loopback::readUntilEof(connection.upstream.peer.fd(), &error), QByteArray("still uploading"));
    QCOMPARE(error, 0);
    QVERIFY(!connection.finished);
}

void tst_FaultDriver::aResumeEndsAStallNotAHalfClose()
{
    // Each hold on a flow is its holder's: a resume (the user's, or the
    // end of a rule's stall) lets go of the stalls only.
    FakeConnection connection;
    connection.faults.act(action(FaultAction::Kind::HalfClose, FaultAction::Target::Client), QStringLiteral("by the test"));
    connection.faults.act(action(FaultAction::Kind::Stall, FaultAction::Target::Upstream), QStringLiteral("by the test"));
    QVERIFY(connection.drive([&] { return connection.down.finPassed(); }));
    QVERIFY(Loopback::sendAll(connection.client.peer.fd(), "held back"));
    QVERIFY(!connection.drive([&] { return connection.up.delivered() > 0; }, 200));
    connection.faults.act(action(FaultAction::Kind::Resume, FaultAction::Target::Both), QStringLiteral("by the test"));
    // The stalled upload goes on; what the upstream sends after the
    // half-close toward the client stays unread, and nothing breaks.
    QVERIFY(Loopback::sendAll(connection.upstream.peer.fd(), "too late"));
    QVERIFY(connection.drive([&] { return connection.up.delivered() == 9; }));
    QVERIFY(!connection.drive([&] { return connection.finished || connection.down.held() > 0; }, 300));
    QCOMPARE(connection.down.delivered(), quint64(0));
    QVERIFY(connection.up.paused() == false);
    QVERIFY(connection.down.heldBy(Flow::HalfClose));
}

void tst_FaultDriver::cleanCloseDeliversWhatIsHeldThenFinsBothWays()
{
    FakeConnection connection;
    QVERIFY(Loopback::sendAll(connection.upstream.peer.fd(), "the response"));
    QVERIFY(connection.drive([&] { return connection.down.delivered() == 12; }));
    connection.faults.closeCleanly(QStringLiteral("closed by the test"));
    QVERIFY(connection.drive([&] { return connection.finished; }));
    QCOMPARE(connection.endWhy, QStringLiteral("closed by the test"));
    QVERIFY(connection.drained);
    int error = -1;
    QCOMPARE(Loopback::readUntilEof(connection.client.peer.fd(), &error), QByteArray("the response"));
    QCOMPARE(error, 0);
    QCOMPARE(Loopback::readUntilEof(connection.upstream.peer.fd(), &error), QByteArray());
    QCOMPARE(error, 0);
    QCOMPARE(connection.resets[Flow::Client] + connection.resets[Flow::Upstream], 0);
}

void tst_FaultDriver::stallForADurationResumesByItself()
{
    FakeConnection connection;
    FaultAction stall = action(FaultAction::Kind::Stall, FaultAction::Target::Upstream);
    stall.durationUs = 150'000;
    connection.faults.act(stall, QStringLiteral("by the test"));
    QVERIFY2(connection.conditions.contains(QStringLiteral("up stalled")), qPrintable(connection.conditions));
    QVERIFY(Loopback::sendAll(connection.client.peer.fd(), "held"));
    // Well inside the stall nothing went up; then the driver's own timer
    // resumes it.
    QElapsedTimer clock;
    clock.start();
    QVERIFY(connection.drive([&] { return clock.elapsed() >= 50; }));
    if (clock.elapsed() < 120) {
        QCOMPARE(connection.up.delivered(), quint64(0));
        QCOMPARE(Loopback::queuedToRead(connection.upstream.peer.fd()), 0);
    }
    QVERIFY(connection.drive([&] { return connection.up.delivered() == 4; }));
    QCOMPARE(Loopback::readExactly(connection.upstream.peer.fd(), 4), QByteArray("held"));
    QVERIFY2(!connection.conditions.contains(QStringLiteral("stalled")), qPrintable(connection.conditions));
    QCOMPARE(connection.marks.size(), 2); // the stall, then its end
}

void tst_FaultDriver::aRuleIsDrawnOncePerConnection()
{
    ConditionRule rule;
    QString error;
    QVERIFY2(ConditionRule::parse(QStringLiteral("up:latency=20ms,connect-delay=30ms,probability=0.5"), &rule, &error),
             qPrintable(error));
    const QList<ConditionRule> rules{rule};
    const QHostAddress client(QHostAddress::LocalHost);
    int applied = 0;
    for (int connectionNumber = 0; connectionNumber < 40; ++connectionNumber) {
        FakeConnection connection;
        connection.randomness.seed(connectionNumber);
        const qint64 hold = connection.faults.applyConditions(rules, client, true);
        const QString first = connection.conditions;
        QCOMPARE(first.count(QStringLiteral("drew")), 1);
        const bool applies = first.contains(QStringLiteral(", applies"));
        applied += applies;
        // What the draw said is what was done, and a reload draws nothing new.
        QCOMPARE(connection.up.shaper() != nullptr, applies);
        QCOMPARE(hold, applies ? qint64(30'000) : qint64(0));
        connection.faults.rulesChanged(rules, client);
        connection.faults.rulesChanged(rules, client);
        QCOMPARE(connection.up.shaper() != nullptr, applies);
        QCOMPARE(connection.conditions.count(QStringLiteral("drew")), 1);
        QCOMPARE(drawNote(connection.conditions), drawNote(first));
    }
    // Both outcomes happen at p=0.5 over 40 seeded connections.
    QVERIFY2(applied > 5 && applied < 35, qPrintable(QString::number(applied)));
}

void tst_FaultDriver::firstDataRuleFiresBeforeTheBytesGo()
{
    FaultRule rule;
    QString error;
    QVERIFY2(FaultRule::parse(QStringLiteral("reset:on=first-data"), &rule, &error), qPrintable(error));
    FakeConnection connection;
    connection.faults.arm({rule}, QHostAddress(QHostAddress::LocalHost), MonotonicClock::nowUs());
    QVERIFY(connection.marks.isEmpty());
    QVERIFY(Loopback::sendAll(connection.client.peer.fd(), "first bytes"));
    QVERIFY(connection.drive([&] { return connection.finished; }));
    int readError = 0;
    QCOMPARE(Loopback::readUntilEof(connection.upstream.peer.fd(), &readError), QByteArray());
    QCOMPARE(readError, ECONNRESET);
    QVERIFY2(connection.endWhy.contains(QStringLiteral("fault rule 1")), qPrintable(connection.endWhy));
}

// The first read is held until the rule has acted: a black hole on first
// data takes those very bytes, where relaying them first would let them
// through; the other way is not held once the rule has fired.
void tst_FaultDriver::firstDataBlackHoleSwallowsTheFirstBytes()
{
    FaultRule rule;
    QString error;
    QVERIFY2(FaultRule::parse(QStringLiteral("blackhole:on=first-data,side=upstream"), &rule, &error), qPrintable(error));
    FakeConnection connection;
    connection.faults.arm({rule}, QHostAddress(QHostAddress::LocalHost), MonotonicClock::nowUs());
    QVERIFY(Loopback::sendAll(connection.client.peer.fd(), "first bytes"));
    QVERIFY(connection.drive([&] { return connection.up.discarded() == 11; }));
    QCOMPARE(connection.up.delivered(), quint64(0));
    QCOMPARE(connection.marks.size(), 1);
    QVERIFY(Loopback::sendAll(connection.upstream.peer.fd(), "answer"));
    QVERIFY(connection.drive([&] { return connection.down.delivered() == 6; }));
    QCOMPARE(Loopback::readExactly(connection.client.peer.fd(), 6), QByteArray("answer"));
    QCOMPARE(Loopback::queuedToRead(connection.upstream.peer.fd()), 0);
    QVERIFY(!connection.finished);
}

QTEST_GUILESS_MAIN(tst_FaultDriver)
#include "tst_faultdriver.moc"
