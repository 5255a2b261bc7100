#pragma once

#include "faultaction.h"
#include "faulttarget.h"
#include "httpheadparser.h"
#include "timerheap.h"

#include <QHash>
#include <QList>
#include <QStringList>

#include <array>
#include <memory>
#include <utility>
#include <vector>

class ConditionRule;
class FaultRule;
class HttpFaultGate;
class QHostAddress;

// What the rules and the user do to one connection on purpose, done
// through its FaultTarget: the rules' conditions on its flows, the fault
// rules armed (at the accept, after a delay, at a byte count, at the first
// data), a fault asked for now (act), a clean close, its HTTP faults (an
// HttpFaultGate it owns), and the record's words for all of it. Each rule
// with a probability is drawn once per connection, and the draw is said.
//
// Lives on the connection's worker thread, as long as the connection.
class FaultDriver final
{
public:
    using Side = Flow::Side;

    // worker: the flows' shared things of the worker the connection lives
    // on, whose timers and wake-up clock the faults use; random: its
    // random numbers, for draws and jitter.
    FaultDriver(FaultTarget &target, const Flow::Shared &worker, std::mt19937 &random);
    ~FaultDriver();

    FaultDriver(const FaultDriver &) = delete;
    FaultDriver &operator=(const FaultDriver &) = delete;

    // The worker's, for the HTTP gate too.
    TimerHeap &timers() const { return *m_worker.timers; }
    qint64 wakeUs() const; // monotonic, as of this wake-up
    std::mt19937 &random() const { return m_random; }

    // The HTTP faults of the rules that apply to client, if any, as a gate
    // the flows show their bytes to (one of the connection's FlowFilters).
    void makeHttpGate(const QList<FaultRule> &rules, const QHostAddress &client, const HttpHeadParser::Limits &limits);
    HttpFaultGate *httpGate() { return m_gate.get(); }
    // The conditions of the rules that apply to client, on the flows (a
    // direction the user throttled by hand keeps that throttle). At the
    // accept, returns how long to hold the upstream's connect (µs).
    qint64 applyConditions(const QList<ConditionRule> &rules, const QHostAddress &client, bool atAccept);
    // The rules were replaced: their conditions replace the old ones.
    void rulesChanged(const QList<ConditionRule> &rules, const QHostAddress &client);
    // Arms the fault rules that apply to client; originUs (monotonic) is
    // the accept, which delays count from.
    void arm(const QList<FaultRule> &rules, const QHostAddress &client, qint64 originUs);
    // Does something to the connection now (a reset, a stall...), marked
    // with what and who asked (by).
    void act(const FaultAction &action, const QString &by);
    // A fault that is not one of act()'s fired (an HTTP fault).
    void noteFault(const QString &why);
    // Delivers what each direction holds, then FIN both ways, then ends.
    void closeCleanly(const QString &why);
    // The first bytes came from a source: the rules armed for it fire.
    void firstBytes();
    // The flow delivered as many bytes as a limit allows: met says whose
    // (FlowResult::limitsMet); the HTTP gate's go to it.
    void limitReached(Flow &flow, quint8 met);
    // The connection ended: no timer of the faults' may fire.
    void stop();

private:
    // An action to do later: a stall's end, a fault rule's delay.
    struct LaterAction
    {
        LaterAction(FaultDriver &driver, const FaultAction &action, const QString &by)
            : driver(driver), action(action), by(by) {}
        void due() { driver.act(action, by); }

        FaultDriver &driver;
        const FaultAction action;
        const QString by;
        MemberTimer<LaterAction, &LaterAction::due> timer{*this};
    };
    // What a flow's delivery limit sets off, toward each side: a limit's
    // end (marked when it was asked for) or a rule's fault (marked when it
    // fires).
    struct LimitStep
    {
        FaultAction action;
        QString by;
        bool rule = false;
    };

    LimitStep &limitStep(Side toward);
    // Whether a rule with this probability applies, drawn now; the draw
    // is noted in the record.
    bool drawn(double probability, const QString &what);
    void scheduleAction(const FaultAction &action, const QString &by, qint64 atUs);
    // Changes one direction as action says; false when that ended the
    // connection.
    bool actOn(Flow &flow, const FaultAction &action, const QString &why);
    // Resets the target side(s), then ends the connection.
    void resetToward(FaultAction::Target target, const QString &why);
    // Passes a FIN on the flow's destination and reads its source no more;
    // once both directions are so, the connection ends.
    void endFlow(Flow &flow);
    // The record's words for what is done to the traffic now.
    void refresh();

    FaultTarget &m_target;
    const Flow::Shared &m_worker;
    std::mt19937 &m_random;
    std::vector<std::unique_ptr<LaterAction>> m_later; // freed with the driver, never while one runs
    // Made on the first limit: most connections never have one.
    std::unique_ptr<std::array<LimitStep, 2>> m_limitSteps;
    std::vector<std::pair<FaultAction, QString>> m_onFirstData; // rules' faults, with who asked
    QString m_lastFault;          // what ended it, when a fault did
    bool m_closing = false;       // closing cleanly: each direction ends once it delivered what it held
    QString m_closeWhy;
    QStringList m_ruleNotes;      // the rules' draws, a held connect
    QHash<QString, std::pair<bool, QString>> m_draws; // each rule's draw and its note, by its summary and probability
    QStringList m_conditionNotes; // half-closes done
    bool m_throttledByHand[2] = {false, false}; // per direction, up then down
    std::unique_ptr<HttpFaultGate> m_gate;
};
