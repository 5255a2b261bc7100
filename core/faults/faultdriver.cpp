#include "faultdriver.h"

#include "conditionrule.h"
#include "faultrule.h"
#include "flowshaper.h"
#include "httpfaultgate.h"
#include "monotonicclock.h"
#include "ruleunits.h"
#include "subnetlist.h"

#include <QHostAddress>

namespace {

constexpr FaultTarget::Side Client = Flow::Client;
constexpr FaultTarget::Side Upstream = Flow::Upstream;

FaultAction::Target targetOf(FaultTarget::Side side)
{
    return side == Client ? FaultAction::Target::Client : FaultAction::Target::Upstream;
}

QString sideName(FaultTarget::Side side)
{
    return side == Client ? QStringLiteral("client") : QStringLiteral("upstream");
}

bool applies(const SubnetList &clients, const QHostAddress &client)
{
    return clients.isEmpty() || clients.contains(client);
}

// A half-close or a clean close delivers what the flow holds, then its
// FIN: a filter's stop (the HTTP gate holding a head or a response) keeps
// nothing back from then on.
void liftFilterStop(Flow &flow)
{
    flow.setDeliveryLimit(Flow::NoLimit, Flow::ByFilter);
}

} // namespace

FaultDriver::FaultDriver(FaultTarget &target, const Flow::Shared &worker, std::mt19937 &random)
    : m_target(target)
    , m_worker(worker)
    , m_random(random)
{
}

qint64 FaultDriver::wakeUs() const
{
    return m_worker.wakeUs ? *m_worker.wakeUs : MonotonicClock::nowUs();
}

FaultDriver::~FaultDriver() = default;

void FaultDriver::makeHttpGate(const QList<FaultRule> &rules, const QHostAddress &client,
                               const HttpHeadParser::Limits &limits)
{
    std::vector<HttpFaultGate::Rule> http;
    for (qsizetype i = 0; i < rules.size(); ++i) {
        const FaultRule &rule = rules[i];
        if (rule.http && rule.probability > 0 && applies(rule.clients, client))
            http.push_back({*rule.http, rule.probability, QStringLiteral("fault rule %1").arg(i + 1)});
    }
    if (!http.empty())
        m_gate = std::make_unique<HttpFaultGate>(m_target, *this, limits, std::move(http));
}

bool FaultDriver::drawn(double probability, const QString &what)
{
    // Drawn only when it can go either way: 0 and 1 cost nothing.
    if (probability <= 0)
        return false;
    if (probability >= 1)
        return true;
    // Once per rule and connection: rules put in force again (a reload)
    // keep what was drawn for the live connections, and say it again.
    const QString key = QStringLiteral("%1@%2").arg(what).arg(probability);
    auto earlier = m_draws.constFind(key);
    if (earlier == m_draws.constEnd()) {
        const double draw = std::uniform_real_distribution<double>(0, 1)(m_random);
        const bool applies = draw < probability;
        const QString note = QStringLiteral("%1: drew %2 for p=%3, %4")
                                 .arg(what)
                                 .arg(draw, 0, 'f', 3)
                                 .arg(probability)
                                 .arg(applies ? QStringLiteral("applies") : QStringLiteral("does not apply"));
        earlier = m_draws.insert(key, {applies, note});
    }
    m_ruleNotes.append(earlier->second);
    return earlier->first;
}

void FaultDriver::noteFault(const QString &why)
{
    if (m_target.isFinished())
        return;
    m_target.markFault(0, why);
    m_lastFault = why;
    refresh();
}

void FaultDriver::arm(const QList<FaultRule> &rules, const QHostAddress &client, qint64 originUs)
{
    std::vector<std::pair<FaultAction, QString>> now;
    for (qsizetype i = 0; i < rules.size(); ++i) {
        const FaultRule &rule = rules[i];
        if (rule.refuse || rule.http || !applies(rule.clients, client))
            continue;
        if (!drawn(rule.probability, rule.summary()))
            continue;
        const QString by = QStringLiteral("by fault rule %1").arg(i + 1);
        switch (rule.trigger) {
        case FaultRule::Trigger::Accept:
            now.emplace_back(rule.action, by);
            break;
        case FaultRule::Trigger::Delay:
            scheduleAction(rule.action, by, originUs + rule.delayUs);
            break;
        case FaultRule::Trigger::Bytes: {
            const Side toward = rule.bytesToward == FaultAction::Target::Upstream ? Upstream : Client;
            limitStep(toward) = {rule.action, by, true};
            Flow &flow = m_target.flowTo(toward);
            flow.setDeliveryLimit(rule.bytes);
            // A limit of no bytes is met at once.
            if (!m_target.settle(flow, flow.resume()))
                return;
            break;
        }
        case FaultRule::Trigger::FirstData:
            m_onFirstData.emplace_back(rule.action, by);
            // The first bytes each way wait for it (firstBytes()).
            m_target.flowTo(Upstream).setHoldFirstBytes(true);
            m_target.flowTo(Client).setHoldFirstBytes(true);
            break;
        }
    }
    refresh();
    for (const auto &[action, by] : now) {
        if (m_target.isFinished())
            return;
        act(action, by);
    }
}

void FaultDriver::firstBytes()
{
    if (m_onFirstData.empty())
        return;
    // Before the bytes are relayed: the flow held them (FirstHeld), and
    // they go on as these faults leave it. The other way holds nothing.
    m_target.flowTo(Upstream).setHoldFirstBytes(false);
    m_target.flowTo(Client).setHoldFirstBytes(false);
    std::vector<std::pair<FaultAction, QString>> due;
    due.swap(m_onFirstData);
    for (const auto &[action, by] : due) {
        if (m_target.isFinished())
            return;
        act(action, by);
    }
}

qint64 FaultDriver::applyConditions(const QList<ConditionRule> &rules, const QHostAddress &client, bool atAccept)
{
    FlowConditions conditions[2];
    std::shared_ptr<RatePacer> pacers[2];
    qint64 connectDelayUs = 0;
    std::mt19937 &random = m_random;
    for (const ConditionRule &rule : rules) {
        if (!applies(rule.clients, client))
            continue;
        // Drawn once, now; a probability of 0 draws nothing at all.
        if (!drawn(rule.probability, rule.summary()))
            continue;
        for (int direction = 0; direction < 2; ++direction) {
            if (!rule.covers(direction == 0))
                continue;
            conditions[direction].combine(rule.conditions);
            if (rule.conditions.bytesPerSecond)
                pacers[direction] = rule.pacers[direction];
        }
        connectDelayUs = qMax(connectDelayUs, rule.connectDelayUs);
    }
    for (int direction = 0; direction < 2; ++direction) {
        Flow &flow = m_target.flowTo(direction == 0 ? Upstream : Client);
        if (m_throttledByHand[direction] || (conditions[direction].isEmpty() && !flow.shaper()))
            continue;
        flow.setShaper(conditions[direction].isEmpty()
                           ? nullptr
                           : std::make_unique<FlowShaper>(conditions[direction], pacers[direction], quint32(random())));
        if (m_target.isFinished())
            return 0;
        m_target.conditionsChanged(flow);
        if (m_target.isFinished())
            return 0;
    }
    // The connect is held only before it happens.
    if (!atAccept || connectDelayUs <= 0)
        connectDelayUs = 0;
    else
        m_ruleNotes.append(QStringLiteral("connect +") + RuleUnits::durationText(connectDelayUs));
    refresh();
    return connectDelayUs;
}

void FaultDriver::rulesChanged(const QList<ConditionRule> &rules, const QHostAddress &client)
{
    if (m_target.isFinished())
        return;
    m_ruleNotes.clear();
    applyConditions(rules, client, false);
}

void FaultDriver::refresh()
{
    QStringList parts;
    for (const Side toward : {Upstream, Client}) {
        const Flow &flow = m_target.flowTo(toward);
        QStringList what;
        if (flow.shaper())
            what.append(ConditionRule::describe(flow.shaper()->conditions()));
        if (!flow.finPassed()) {
            if (flow.heldBy(Flow::Stall))
                what.append(QStringLiteral("stalled"));
            if (flow.discarding())
                what.append(QStringLiteral("black hole"));
            // What happens once it has delivered so much in all.
            const LimitStep &step = limitStep(toward);
            if (flow.deliveryLimit() != Flow::NoLimit && !m_closing)
                what.append(QStringLiteral("at %1: %2")
                                .arg(RuleUnits::bytesText(qint64(flow.deliveryLimit())), step.action.describe()));
        }
        if (!what.isEmpty())
            parts.append((flow.fromClient() ? QStringLiteral("up ") : QStringLiteral("down ")) + what.join(QStringLiteral(", ")));
    }
    parts.append(m_ruleNotes);
    parts.append(m_conditionNotes);
    m_target.describeConditions(parts.join(QStringLiteral("; ")));
}

void FaultDriver::act(const FaultAction &action, const QString &by)
{
    using Kind = FaultAction::Kind;
    if (m_target.isFinished())
        return;
    const QString what = action.describe();
    const QString why = by.isEmpty() ? what : QStringLiteral("%1 (%2)").arg(what, by);
    m_target.markFault(qint32(action.kind), why);
    m_lastFault = why;
    if (action.kind == Kind::Reset) {
        resetToward(action.target, why);
        return;
    }
    if (action.kind == Kind::Close) {
        closeCleanly(why);
        return;
    }
    for (const Side toward : {Upstream, Client}) {
        if (action.covers(targetOf(toward)) && !actOn(m_target.flowTo(toward), action, why))
            return;
    }
    if ((action.kind == Kind::Stall || action.kind == Kind::Blackhole) && action.durationUs > 0) {
        FaultAction resume = action;
        resume.kind = Kind::Resume;
        resume.durationUs = 0;
        scheduleAction(resume, by, wakeUs() + action.durationUs);
    }
    refresh();
}

bool FaultDriver::actOn(Flow &flow, const FaultAction &action, const QString &why)
{
    using Kind = FaultAction::Kind;
    const Side toward = flow.to();
    switch (action.kind) {
    case Kind::HalfClose:
        // What it holds goes first: a limit of what it has read.
        limitStep(toward) = {action, why, false};
        flow.hold(Flow::HalfClose);
        liftFilterStop(flow);
        flow.setDeliveryLimit(flow.delivered() + flow.held());
        break;
    case Kind::Stall:
        flow.hold(Flow::Stall);
        break;
    case Kind::Blackhole:
        flow.setDiscarding(true);
        break;
    case Kind::Resume:
        flow.setDiscarding(false);
        flow.letGo(Flow::Stall); // a half-close's or a clean close's hold stays
        break;
    case Kind::Throttle:
        m_throttledByHand[flow.fromClient() ? 0 : 1] = !action.conditions.isEmpty();
        flow.setShaper(action.conditions.isEmpty()
                           ? nullptr
                           : std::make_unique<FlowShaper>(action.conditions, nullptr, quint32(m_random())));
        break;
    case Kind::Limit: {
        FaultAction then;
        then.kind = action.then;
        then.target = then.kind == Kind::HalfClose ? targetOf(toward) : FaultAction::Target::Both;
        limitStep(toward) = {then, why, false};
        flow.setDeliveryLimit(flow.delivered() + action.bytes);
        break;
    }
    case Kind::Reset:
    case Kind::Close:
        break;
    }
    if (m_target.isFinished())
        return false;
    m_target.conditionsChanged(flow);
    return !m_target.isFinished();
}

void FaultDriver::scheduleAction(const FaultAction &action, const QString &by, qint64 atUs)
{
    m_later.push_back(std::make_unique<LaterAction>(*this, action, by));
    timers().schedule(&m_later.back()->timer, atUs);
}

void FaultDriver::resetToward(FaultAction::Target target, const QString &why)
{
    for (const Side side : {Client, Upstream}) {
        if (target == FaultAction::Target::Both || target == targetOf(side))
            m_target.resetSide(side);
    }
    m_target.endByFault(why, false);
}

void FaultDriver::closeCleanly(const QString &why)
{
    if (!m_target.isRelaying()) {
        m_target.endByFault(why, false); // nothing relayed yet: nothing to deliver
        return;
    }
    m_closing = true;
    m_closeWhy = why;
    for (const Side toward : {Upstream, Client}) {
        Flow &flow = m_target.flowTo(toward);
        if (flow.finPassed())
            continue;
        flow.hold(Flow::Closing);
        liftFilterStop(flow);
        flow.setDeliveryLimit(flow.delivered() + flow.held());
        m_target.conditionsChanged(flow); // what it holds goes, then the limit is met
        if (m_target.isFinished())
            return;
    }
    Flow &up = m_target.flowTo(Upstream);
    if (up.finPassed() && m_target.flowTo(Client).finPassed())
        endFlow(up);
}

FaultDriver::LimitStep &FaultDriver::limitStep(Side toward)
{
    if (!m_limitSteps)
        m_limitSteps = std::make_unique<std::array<LimitStep, 2>>();
    return (*m_limitSteps)[toward];
}

void FaultDriver::limitReached(Flow &flow, quint8 met)
{
    using Kind = FaultAction::Kind;
    const Side toward = flow.to();
    if (m_gate && (met & (1 << Flow::ByFilter)))
        m_gate->limitReached(flow);
    if (!(met & (1 << Flow::ByFault)))
        return;
    if (m_closing) {
        endFlow(flow);
        return;
    }
    const LimitStep step = limitStep(toward);
    limitStep(toward) = LimitStep();
    const Kind kind = step.action.kind;
    if (kind == Kind::Reset || kind == Kind::Close || (kind == Kind::HalfClose && step.action.covers(targetOf(toward)))) {
        // Not a byte past the limit: what the flow still holds is dropped.
        if (!m_target.settle(flow, flow.halt()))
            return;
    } else {
        flow.setDeliveryLimit(Flow::NoLimit);
        if (!m_target.settle(flow, flow.resume()))
            return;
    }
    if (step.rule) {
        act(step.action, step.by); // marked now, as it fires
        return;
    }
    switch (kind) {
    case Kind::Reset:
        resetToward(step.action.target, step.by);
        return;
    case Kind::Close:
        closeCleanly(step.by);
        return;
    case Kind::HalfClose:
        m_conditionNotes.append(QStringLiteral("half-closed toward %1").arg(sideName(toward)));
        endFlow(flow);
        return;
    default:
        act(step.action, step.by);
        return;
    }
}

void FaultDriver::endFlow(Flow &flow)
{
    m_target.passFin(flow);
    refresh();
    if (!m_target.flowTo(Upstream).finPassed() || !m_target.flowTo(Client).finPassed())
        return;
    m_target.endByFault(m_closing ? m_closeWhy : m_lastFault, true);
}

void FaultDriver::stop()
{
    for (const auto &later : m_later)
        timers().cancel(&later->timer);
    if (m_gate)
        m_gate->stop();
}
