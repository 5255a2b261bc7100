#include "httpfaultgate.h"

#include "faultaction.h"
#include "faultdriver.h"
#include "faulttarget.h"
#include "httpproxyfront.h"

#include <random>

namespace {

using Type = HttpMessageStream::Event::Type;
constexpr int Up = 0;
constexpr int Down = 1;

} // namespace

HttpFaultGate::HttpFaultGate(FaultTarget &target, FaultDriver &driver, const HttpHeadParser::Limits &limits,
                             std::vector<Rule> rules)
    : m_target(target)
    , m_driver(driver)
    , m_rules(std::move(rules))
    , m_headLimits(limits)
    , m_requests(HttpHead::Kind::Request, m_headLimits)
    , m_responses(HttpHead::Kind::Response, m_headLimits)
{
}

HttpFaultGate::~HttpFaultGate()
{
    stop();
}

void HttpFaultGate::stop()
{
    TimerHeap &timers = m_driver.timers();
    timers.cancel(&m_settle);
    timers.cancel(&m_delay);
    timers.cancel(&m_resume);
    m_resumeWanted[Up] = m_resumeWanted[Down] = false;
}

void HttpFaultGate::setReadsRequests(bool reads)
{
    m_readsRequests = reads;
    restart();
}

void HttpFaultGate::startSecure()
{
    restart();
}

void HttpFaultGate::restart()
{
    // Whatever came before (a CONNECT and its answer, a TLS handshake) is
    // not part of the conversation that follows.
    stop();
    if (m_hold != Hold::None)
        releaseDown();
    setStop(m_target.flowTo(Flow::Upstream), NoStop);
    m_requests.reset();
    m_responses.reset();
    m_plans.clear();
    m_requestsHttp = m_responsesHttp = true;
    m_upStopped = false;
    m_interim = false;
    const Flow &up = m_target.flowTo(Flow::Upstream);
    const Flow &down = m_target.flowTo(Flow::Client);
    m_upSeen = m_requestStart = up.delivered() + up.held();
    m_downSeen = m_responseStart = down.delivered() + down.held();
    spliceWhereNotFollowing();
}

void HttpFaultGate::spliceWhereNotFollowing()
{
    // An HTTP proxy's flows never splice: its front reads every byte.
    if (!m_readsRequests)
        return;
    m_target.flowTo(Flow::Upstream).setSpliceAllowed(!following(true));
    m_target.flowTo(Flow::Client).setSpliceAllowed(!following(false));
}

bool HttpFaultGate::following(bool fromClient) const
{
    return fromClient ? m_readsRequests && m_requestsHttp && !m_upStopped : m_responsesHttp;
}

bool HttpFaultGate::watching(bool fromClient) const
{
    return following(fromClient);
}

FlowObserver::Window HttpFaultGate::window(bool fromClient)
{
    Q_UNUSED(fromClient);
    return Window(); // every byte of what it follows is to be seen
}

void HttpFaultGate::passed(bool, quint64)
{
    // Never: its window lets no byte go by unseen.
}

FlowObserver::Verdict HttpFaultGate::seen(bool fromClient, const char *data, qsizetype size)
{
    const int index = fromClient ? Up : Down;
    if (following(fromClient)) {
        m_seeing = index;
        if (fromClient)
            readRequests(data, size);
        else
            readResponses(data, size);
        m_seeing = -1;
    }
    return Verdict::stopAt(m_stops[index]);
}

quint64 HttpFaultGate::stopAt(bool fromClient) const
{
    return m_stops[fromClient ? Up : Down];
}

void HttpFaultGate::readRequests(const char *data, qsizetype size)
{
    const quint64 base = m_upSeen;
    m_upSeen += quint64(size);
    m_events.clear();
    m_requests.feed(QByteArrayView(data, size), &m_events);
    Flow &up = m_target.flowTo(Flow::Upstream);
    for (const HttpMessageStream::Event &event : std::as_const(m_events)) {
        if (event.type == Type::Head) {
            QString why;
            if (decide(event.head, &why) != 0) {
                // Not a byte of it goes: proxymon answers it (answer()).
                m_upStopped = true;
                setStop(up, m_requestStart);
                return;
            }
        } else if (event.type == Type::End) {
            m_requestStart = base + quint64(event.end);
        } else if (event.type == Type::NotHttp || event.type == Type::Tunnel) {
            m_requestsHttp = false;
            break;
        }
    }
    // A request head goes whole or not at all: its first bytes wait until
    // it is complete and decided. One longer than the head cap would fill
    // the flow's buffer and wait for good: its requests are not followed.
    bool partialHead = m_requestsHttp && m_requests.betweenBodies() && m_upSeen > m_requestStart;
    if (partialHead && m_upSeen - m_requestStart > quint64(m_headLimits.maxBytes)) {
        m_requestsHttp = false;
        partialHead = false;
    }
    setStop(up, partialHead ? m_requestStart : NoStop);
    if (!m_requestsHttp)
        spliceWhereNotFollowing();
}

int HttpFaultGate::decide(const HttpHead &request, QString *why)
{
    m_responses.expectResponseTo(request.method());
    Plan plan;
    const QByteArrayView target = request.target();
    plan.request = QString::fromLatin1(request.method()) + u' '
        + QString::fromLatin1(target.first(qMin<qsizetype>(target.size(), 200)));
    QString drawn;
    const Rule *rule = match(request);
    if (rule && rule->fault.kind() == HttpFault::Kind::Status) {
        plan.status = rule->fault.status();
        plan.why = QStringLiteral("%1 to %2 (by %3)").arg(rule->fault.describe(), plan.request, rule->by);
        m_driver.noteFault(plan.why);
        *why = plan.why;
        rule = nullptr;
    }
    plan.rule = rule;
    const int status = plan.status;
    m_plans.push_back(plan);
    armNext();
    return status;
}

const HttpFaultGate::Rule *HttpFaultGate::match(const HttpHead &request)
{
    for (const Rule &rule : m_rules) {
        // A probability of 0 draws nothing and counts nothing.
        if (rule.probability <= 0 || !rule.fault.matches(request) || !rule.fault.takes())
            continue;
        if (rule.probability < 1
            && std::uniform_real_distribution<double>(0, 1)(m_driver.random()) >= rule.probability)
            continue;
        return &rule;
    }
    return nullptr;
}

void HttpFaultGate::armNext()
{
    if (m_hold != Hold::None || m_plans.empty() || !m_responsesHttp)
        return;
    Plan &next = m_plans.front();
    if (next.armed)
        return;
    Hold hold = Hold::None;
    if (next.status != 0)
        hold = m_readsRequests ? Hold::Answer : Hold::None; // an HTTP proxy's front answers it itself
    else if (next.rule && next.rule->fault.kind() == HttpFault::Kind::DelayHead)
        hold = Hold::Delay;
    else if (next.rule && next.rule->fault.kind() == HttpFault::Kind::NoResponse)
        hold = Hold::Drop;
    if (hold == Hold::None)
        return; // a cut waits for the response's head
    next.armed = true;
    holdDown(hold, m_responseStart, next);
}

void HttpFaultGate::setStop(Flow &flow, quint64 at)
{
    const int index = flow.fromClient() ? Up : Down;
    if (m_stops[index] == at)
        return;
    m_stops[index] = at;
    // The flow showing the gate its bytes takes the stop from the answer
    // and honours it for the rest of its call; another takes it now.
    if (index != m_seeing)
        m_target.filterStopChanged(flow);
    // What the new stop lets go (or its being met) follows from the
    // gate's timer, outside the call of the flow showing it bytes.
    m_resumeWanted[index] = true;
    m_driver.timers().schedule(&m_resume, m_driver.wakeUs());
}

void HttpFaultGate::resumeFlows()
{
    for (const int index : {Up, Down}) {
        if (!m_resumeWanted[index] || m_target.isFinished())
            continue;
        m_resumeWanted[index] = false;
        m_target.conditionsChanged(m_target.flowTo(index == Up ? Flow::Upstream : Flow::Client));
    }
}

void HttpFaultGate::holdDown(Hold hold, quint64 at, const Plan &plan)
{
    // Set before the limit: one already met is reported at once.
    m_hold = hold;
    m_held = plan;
    m_holdReached = false;
    m_delayStarted = false;
    Flow &down = m_target.flowTo(Flow::Client);
    setStop(down, at);
    // A limit that was already there is not reported again.
    if (!m_holdReached && down.delivered() >= at)
        limitReached(down);
    if (m_hold == Hold::Delay && m_downSeen > at)
        delayStarts();
}

void HttpFaultGate::releaseDown()
{
    m_hold = Hold::None;
    setStop(m_target.flowTo(Flow::Client), NoStop);
}

void HttpFaultGate::delayStarts()
{
    // From the response's first byte, which has come and waits.
    m_delayStarted = true;
    note(m_held, m_held.rule->fault.describe());
    m_driver.timers().schedule(&m_delay, m_driver.wakeUs() + m_held.rule->fault.delayUs());
}

void HttpFaultGate::delayOver()
{
    if (m_target.isFinished() || m_hold != Hold::Delay)
        return;
    releaseDown();
    if (!m_target.isFinished())
        armNext();
    // What the policy does once a response has gone (an HTTP proxy's next
    // step, the source read on) waits for this.
    if (!m_target.isFinished())
        m_target.conditionsChanged(m_target.flowTo(Flow::Client));
}

void HttpFaultGate::readResponses(const char *data, qsizetype size)
{
    const quint64 base = m_downSeen;
    m_downSeen += quint64(size);
    m_events.clear();
    m_responses.feed(QByteArrayView(data, size), &m_events);
    for (const HttpMessageStream::Event &event : std::as_const(m_events)) {
        if (event.type == Type::Head) {
            const int status = event.head.status;
            m_interim = status >= 100 && status < 200 && status != 101;
            if (m_interim || m_plans.empty() || m_hold != Hold::None)
                continue;
            Plan &plan = m_plans.front();
            if (plan.rule && plan.rule->fault.kind() == HttpFault::Kind::CutBody && !plan.armed) {
                plan.armed = true;
                holdDown(Hold::Cut, base + quint64(event.end) + plan.rule->fault.bodyBytes(), plan);
            }
        } else if (event.type == Type::End) {
            m_responseStart = base + quint64(event.end);
            if (m_interim) {
                m_interim = false;
                continue;
            }
            // A body no longer than the cut passes whole, and so does the
            // next response.
            if (m_hold == Hold::Cut && base + quint64(event.end) <= m_stops[Down])
                releaseDown();
            if (!m_plans.empty())
                m_plans.pop_front();
            armNext();
        } else if (event.type == Type::NotHttp || event.type == Type::Tunnel) {
            m_responsesHttp = false;
            if (event.type == Type::Tunnel && m_readsRequests && m_requestsHttp) {
                // A 101: what the client sends now is the new protocol's.
                m_requestsHttp = false;
                setStop(m_target.flowTo(Flow::Upstream), NoStop);
            }
            spliceWhereNotFollowing();
            break;
        }
    }
    if (m_hold == Hold::Delay && !m_delayStarted && m_downSeen > m_stops[Down])
        delayStarts();
}

void HttpFaultGate::limitReached(Flow &flow)
{
    // On the client's flow a request head waits to be whole, or one that
    // proxymon answers is held back: the answer waits for the responses.
    if (flow.fromClient())
        return;
    m_holdReached = true;
    // Not from inside the flow's own delivery: answering, dropping and
    // closing change the flows under it.
    if (m_hold == Hold::Answer || m_hold == Hold::Drop || m_hold == Hold::Cut)
        m_driver.timers().schedule(&m_settle, m_driver.wakeUs());
}

void HttpFaultGate::settle()
{
    if (m_target.isFinished() || !m_holdReached)
        return;
    Flow &down = m_target.flowTo(Flow::Client);
    const Plan plan = m_held;
    switch (m_hold) {
    case Hold::None:
    case Hold::Delay:
        return;
    case Hold::Answer:
        answer();
        return;
    case Hold::Drop:
        // What waits goes nowhere, nor does anything after it.
        if (!m_target.settle(down, down.dropHeld()))
            return;
        m_hold = Hold::None;
        m_responsesHttp = false;
        down.setDiscarding(true);
        if (!m_target.isFinished())
            setStop(down, NoStop);
        note(plan, plan.rule->fault.describe());
        if (!m_target.isFinished())
            m_target.conditionsChanged(down); // what the upstream sends is read, into the hole
        return;
    case Hold::Cut: {
        m_hold = Hold::None;
        m_responsesHttp = false;
        if (!m_target.settle(down, down.halt()))
            return;
        FaultAction action;
        action.kind = plan.rule->fault.resetsAfterCut() ? FaultAction::Kind::Reset : FaultAction::Kind::Close;
        action.target = plan.rule->fault.resetsAfterCut() ? FaultAction::Target::Client : FaultAction::Target::Both;
        m_driver.act(action, QStringLiteral("%1 to %2, by %3")
                                 .arg(plan.rule->fault.describe(), plan.request, plan.rule->by));
        return;
    }
    }
}

void HttpFaultGate::answer()
{
    const Plan plan = m_held;
    Flow &up = m_target.flowTo(Flow::Upstream);
    Flow &down = m_target.flowTo(Flow::Client);
    // The request and whatever followed it stay unsent; anything the
    // upstream sent unasked is not passed on.
    if (!m_target.settle(up, up.halt()) || !m_target.settle(down, down.dropHeld()))
        return;
    m_hold = Hold::None;
    m_upStopped = true;
    // The answer waits behind the hold, and closing lets it go, then the
    // FIN (it says Connection: close): lifting the hold first could pass
    // an upstream's FIN ahead of it.
    const QByteArray bytes = HttpProxyFront::answerBytes({plan.status, plan.why});
    // Shown as the response it is, to the capture and to the gate itself.
    down.show(bytes.constData(), bytes.size());
    down.hold(bytes.constData(), bytes.size());
    m_driver.closeCleanly(plan.why); // lifts the gate's limits
}

void HttpFaultGate::note(const Plan &plan, const QString &what)
{
    m_driver.noteFault(QStringLiteral("%1 to %2 (by %3)").arg(what, plan.request, plan.rule->by));
}
