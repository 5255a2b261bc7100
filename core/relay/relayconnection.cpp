#include "relayconnection.h"

#include "forwardingpolicy.h"
#include "httpproxypolicy.h"
#include "clienthello.h"
#include "tlsclientcontext.h"
#include "tlsinterception.h"
#include "tlsservercontext.h"
#include "worker.h"
#include "flowshaper.h"
#include "monotonicclock.h"
#include "ruleunits.h"

#include <QDateTime>
#include <QStringList>

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

using State = ConnectionRecord::State;
using Mark = TimelineMark;

namespace {

bool isResetError(int error)
{
    return error == ECONNRESET || error == EPIPE || error == ECONNABORTED;
}

// Waits for a destination shorter than this are counted, not marked: a
// bulk transfer meets a full socket many times a second.
constexpr qint64 StallMarkUs = 10'000;
constexpr int MaxMarkedStalls = 32;
// An HTTP proxy's connection reaches an upstream per host; its marks stop
// here (the count of the rest is kept).
constexpr int MaxMarks = 512;
// What a forwarded connection's life usually takes (accepted, connecting,
// connected, first byte and FIN each way, FINs passed on, closed), room
// made once: growing the list mark by mark was a measurable part of the
// CPU a short connection costs.
constexpr int UsualMarks = 12;

Mark::Lane laneOf(RelayConnection::Side side)
{
    return side == RelayConnection::Client ? Mark::Lane::Client : Mark::Lane::Upstream;
}

QString sideName(RelayConnection::Side side)
{
    return side == RelayConnection::Client ? QStringLiteral("client") : QStringLiteral("upstream");
}

} // namespace

QString RelayConnection::errorText(int error)
{
    return QString::fromLocal8Bit(std::strerror(error));
}

RelayConnection::RelayConnection(Worker &worker, quint64 id, int clientFd)
    : m_worker(worker)
    , m_client(clientFd)
    , m_up(Client, m_client, m_upstream, *this, worker.flowShared())
    , m_down(Upstream, m_upstream, m_client, *this, worker.flowShared())
{
    m_originUs = MonotonicClock::nowUs();
    m_startedMs = m_lastActivityMs = worker.nowMs();
    m_record.id = id;
    m_record.timeline.marks.reserve(UsualMarks);
    markOnLane(Mark::Kind::Accepted, Mark::Lane::Client, 0, QString(), m_originUs);
    m_record.openedMs = QDateTime::currentMSecsSinceEpoch();
    m_peer = m_client.peer();
    m_record.client = m_peer.length ? m_peer.toString() : QStringLiteral("(unknown)");
    // A shared string when the listener's address says it all; a
    // wildcard listener's connections each ask their socket.
    m_record.acceptedOn = worker.listenText();
    if (m_record.acceptedOn.isEmpty()) {
        const SocketAddress local = m_client.local();
        if (local.length)
            m_record.acceptedOn = local.toString();
    }
    m_record.upstream = worker.config().targetText();
    m_record.state = State::Resolving;
    // TCP_NODELAY and the rest of TcpLeg::tune() come from the listening
    // socket: Linux copies them to accepted sockets, which saves system
    // calls per connection.
}

// Normally finish() has closed both legs already; their destructors are
// the backstop for a worker torn down mid-connection.
RelayConnection::~RelayConnection() = default;

ConnectionRecord RelayConnection::snapshot() const
{
    ConnectionRecord record = m_record;
    // On the wire: what TLS legs wrote counts as records, not plaintext.
    record.bytesUp = m_upstreamTls ? m_upstreamTls->wireBytesOut() : m_up.delivered();
    record.bytesDown = m_clientTls ? m_clientTls->wireBytesOut() : m_down.delivered();
    record.tlsTruncated = (m_clientTls && m_clientTls->truncated()) || (m_upstreamTls && m_upstreamTls->truncated());
    m_tap.addPrefixes(&record);
    fillTimeline(&record.timeline);
    return record;
}

void RelayConnection::fillTimeline(ConnectionTimeline *timeline) const
{
    const qint64 nowUs = m_worker.wakeUs();
    for (const Flow *flow : {&m_up, &m_down}) {
        const int direction = flow->fromClient() ? 0 : 1;
        timeline->lastByteUs[direction] = flow->lastReadUs() >= 0 ? flow->lastReadUs() - m_originUs : -1;
        qint64 waited = flow->waitedUs();
        if (flow->waitingSinceUs() >= 0) {
            waited += qMax<qint64>(0, nowUs - flow->waitingSinceUs());
            timeline->waitingSinceUs[direction] = flow->waitingSinceUs() - m_originUs;
        }
        timeline->waitedUs[direction] = waited;
    }
    const qint64 lastMark = timeline->marks.isEmpty() ? 0 : timeline->marks.constLast().atUs;
    timeline->sampledUs = qMax(nowUs - m_originUs, lastMark);
}

void RelayConnection::mark(Mark::Kind kind, Side side, qint32 code, const QString &note, qint64 atUs)
{
    markOnLane(kind, laneOf(side), code, note, atUs);
}

void RelayConnection::markOnLane(Mark::Kind kind, Mark::Lane lane, qint32 code, const QString &note, qint64 atUs)
{
    Mark mark;
    mark.kind = kind;
    mark.lane = lane;
    mark.code = code;
    mark.note = note;
    addMark(std::move(mark), atUs >= 0 ? atUs : MonotonicClock::nowUs());
}

void RelayConnection::addMark(TimelineMark mark, qint64 atMonotonicUs)
{
    ConnectionTimeline &timeline = m_record.timeline;
    if (timeline.marks.size() >= MaxMarks && mark.kind != Mark::Kind::Closed) {
        ++timeline.unmarked;
        return;
    }
    mark.atUs = atMonotonicUs - m_originUs;
    // Nearly always the latest; a stall is marked when it ends, at its start.
    qsizetype at = timeline.marks.size();
    while (at > 0 && timeline.marks.at(at - 1).atUs > mark.atUs)
        --at;
    if (at == timeline.marks.size())
        timeline.marks.append(std::move(mark));
    else
        timeline.marks.insert(at, std::move(mark));
    markDirty();
}

void RelayConnection::flowFirstBytes(Flow &flow)
{
    addMark({0, Mark::Kind::FirstByte, laneOf(flow.from()), 0, QString()}, flow.lastReadUs());
    if (m_onFirstData.empty())
        return;
    // Before the bytes are relayed: the flow looks whether it was stopped.
    std::vector<std::pair<FaultAction, QString>> due;
    due.swap(m_onFirstData);
    for (const auto &[action, by] : due) {
        if (isFinished())
            return;
        act(action, by);
    }
}

void RelayConnection::flowWaited(Flow &flow, qint64 sinceUs, qint64 untilUs)
{
    if (untilUs - sinceUs < StallMarkUs)
        return;
    if (m_markedStalls >= MaxMarkedStalls) {
        ++m_record.timeline.unmarked;
        return;
    }
    ++m_markedStalls;
    addMark({0, Mark::Kind::StallStart, laneOf(flow.to()), 0, QString()}, sinceUs);
    addMark({0, Mark::Kind::StallEnd, laneOf(flow.to()), 0, QString()}, untilUs);
}

void RelayConnection::finReceived(Side side)
{
    mark(Mark::Kind::Fin, side);
}

void RelayConnection::passFin(Side toward)
{
    leg(toward).shutdownWrite();
    m_finSent[toward] = true;
    mark(Mark::Kind::FinSent, toward);
}

FlowObserver *RelayConnection::captureTap()
{
    if (m_gate)
        return m_gate.get();
    return m_worker.config().capture ? &m_tap : nullptr;
}

void RelayConnection::begin()
{
    // The client is watched from the start so that a reset while the upstream
    // is still being reached ends the attempt; its data waits in the kernel
    // until the upstream is connected.
    watch(Client);

    const ProxyConfig &config = m_worker.config();
    const RuleSet &rules = m_worker.rules();
    if (!rules.faults.isEmpty())
        makeHttpFaultGate();
    if (config.mode == ProxyConfig::Mode::HttpProxy)
        m_policy = std::make_unique<HttpProxyPolicy>(*this);
    else
        m_policy = std::make_unique<ForwardingPolicy>(*this);
    if (!config.allowedClients.isEmpty() && !config.clientAllowed(clientAddress())) {
        m_policy->refuse(QStringLiteral("client %1 is not on the allow-list").arg(m_record.client));
        return;
    }
    if (!rules.conditions.isEmpty())
        applyConditions(true);
    if (!rules.faults.isEmpty()) {
        armFaults();
        if (isFinished())
            return;
    }
    m_policy->begin();
}

bool RelayConnection::drawn(double probability, const QString &what)
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
        const double draw = std::uniform_real_distribution<double>(0, 1)(m_worker.random());
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

const QHostAddress &RelayConnection::clientAddress()
{
    if (!m_clientAddress)
        m_clientAddress.emplace(m_peer.data());
    return *m_clientAddress;
}

void RelayConnection::makeHttpFaultGate()
{
    const QHostAddress &client = clientAddress();
    const QList<FaultRule> &rules = m_worker.rules().faults;
    std::vector<HttpFaultGate::Rule> http;
    for (qsizetype i = 0; i < rules.size(); ++i) {
        const FaultRule &rule = rules[i];
        if (rule.http && rule.probability > 0 && (rule.clients.isEmpty() || rule.clients.contains(client)))
            http.push_back({*rule.http, rule.probability, QStringLiteral("fault rule %1").arg(i + 1)});
    }
    if (http.empty())
        return;
    m_gate = std::make_unique<HttpFaultGate>(*this, m_tap, std::move(http));
}

void RelayConnection::noteFault(const QString &why)
{
    if (isFinished())
        return;
    markOnLane(Mark::Kind::Fault, Mark::Lane::Connection, 0, why);
    m_lastFault = why;
    refreshConditions();
}

void RelayConnection::armFaults()
{
    const QHostAddress &client = clientAddress();
    const QList<FaultRule> &rules = m_worker.rules().faults;
    std::vector<std::pair<FaultAction, QString>> now;
    for (qsizetype i = 0; i < rules.size(); ++i) {
        const FaultRule &rule = rules[i];
        if (rule.refuse || rule.http || (!rule.clients.isEmpty() && !rule.clients.contains(client)))
            continue;
        if (!drawn(rule.probability, rule.summary()))
            continue;
        const QString by = QStringLiteral("by fault rule %1").arg(i + 1);
        switch (rule.trigger) {
        case FaultRule::Trigger::Accept:
            now.emplace_back(rule.action, by);
            break;
        case FaultRule::Trigger::Delay:
            scheduleAction(rule.action, by, m_originUs + rule.delayUs);
            break;
        case FaultRule::Trigger::Bytes: {
            const Side toward = rule.bytesToward == FaultAction::Target::Upstream ? Upstream : Client;
            m_limitSteps[toward] = {rule.action, by, true};
            flowTo(toward).setDeliveryLimit(rule.bytes);
            break;
        }
        case FaultRule::Trigger::FirstData:
            m_onFirstData.emplace_back(rule.action, by);
            break;
        }
    }
    refreshConditions();
    for (const auto &[action, by] : now) {
        if (isFinished())
            return;
        act(action, by);
    }
}

void RelayConnection::applyConditions(bool atAccept)
{
    const QHostAddress &client = clientAddress();
    FlowConditions conditions[2];
    std::shared_ptr<RatePacer> pacers[2];
    qint64 connectDelayUs = 0;
    std::mt19937 &random = m_worker.random();
    for (const ConditionRule &rule : m_worker.rules().conditions) {
        if (!rule.clients.isEmpty() && !rule.clients.contains(client))
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
        Flow &flow = direction == 0 ? m_up : m_down;
        if (m_throttledByHand[direction] || (conditions[direction].isEmpty() && !flow.shaper()))
            continue;
        flow.setShaper(conditions[direction].isEmpty()
                           ? nullptr
                           : std::make_unique<FlowShaper>(conditions[direction], pacers[direction], quint32(random())));
        if (isFinished())
            return;
        conditionsChanged(flow);
        if (isFinished())
            return;
    }
    // The connect is held only before it happens.
    if (atAccept && connectDelayUs > 0) {
        m_connectDelayUs = connectDelayUs;
        m_ruleNotes.append(QStringLiteral("connect +") + RuleUnits::durationText(connectDelayUs));
    }
    refreshConditions();
}

void RelayConnection::conditionsChanged(Flow &flow)
{
    // A source read no more until now, or at another pace, is read on
    // by its policy (which knows who reads it).
    if (m_phase == Phase::Relaying && !flow.paused() && !flow.finPassed())
        m_policy->pumpAgain(flow.from());
}

void RelayConnection::rulesChanged()
{
    if (isFinished())
        return;
    m_ruleNotes.clear();
    applyConditions(false);
}

void RelayConnection::refreshConditions()
{
    QStringList parts;
    for (const Flow *flow : {&m_up, &m_down}) {
        QStringList what;
        if (flow->shaper())
            what.append(ConditionRule::describe(flow->shaper()->conditions()));
        if (!flow->finPassed()) {
            if (flow->paused())
                what.append(QStringLiteral("stalled"));
            if (flow->discarding())
                what.append(QStringLiteral("black hole"));
            // What happens once it has delivered so much in all.
            const LimitStep &step = m_limitSteps[flow->to()];
            if (flow->deliveryLimit() != Flow::NoLimit && !m_closing)
                what.append(QStringLiteral("at %1: %2")
                                .arg(RuleUnits::bytesText(qint64(flow->deliveryLimit())), step.action.describe()));
        }
        if (!what.isEmpty())
            parts.append((flow->fromClient() ? QStringLiteral("up ") : QStringLiteral("down ")) + what.join(QStringLiteral(", ")));
    }
    parts.append(m_ruleNotes);
    parts.append(m_conditionNotes);
    const QString text = parts.join(QStringLiteral("; "));
    if (text != m_record.conditions) {
        m_record.conditions = text;
        markDirty();
    }
}

void RelayConnection::act(const FaultAction &action, const QString &by)
{
    using Kind = FaultAction::Kind;
    if (isFinished())
        return;
    const QString what = action.describe();
    const QString why = by.isEmpty() ? what : QStringLiteral("%1 (%2)").arg(what, by);
    markOnLane(Mark::Kind::Fault, Mark::Lane::Connection, qint32(action.kind), why);
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
        if (!action.covers(toward == Upstream ? FaultAction::Target::Upstream : FaultAction::Target::Client))
            continue;
        Flow &flow = flowTo(toward);
        switch (action.kind) {
        case Kind::HalfClose:
            // What it holds goes first: a limit of what it has read.
            m_limitSteps[toward] = {action, why, false};
            flow.setPaused(true);
            flow.setDeliveryLimit(flow.delivered() + flow.held());
            break;
        case Kind::Stall:
            flow.setPaused(true);
            break;
        case Kind::Blackhole:
            flow.setDiscarding(true);
            break;
        case Kind::Resume:
            flow.setDiscarding(false);
            if (!isFinished())
                flow.setPaused(false);
            break;
        case Kind::Throttle:
            m_throttledByHand[flow.fromClient() ? 0 : 1] = !action.conditions.isEmpty();
            flow.setShaper(action.conditions.isEmpty() ? nullptr
                                                       : std::make_unique<FlowShaper>(action.conditions, nullptr,
                                                                                      quint32(m_worker.random()())));
            break;
        case Kind::Limit: {
            FaultAction then;
            then.kind = action.then;
            then.target = toward == Upstream ? FaultAction::Target::Upstream : FaultAction::Target::Client;
            if (then.kind != Kind::HalfClose)
                then.target = FaultAction::Target::Both;
            m_limitSteps[toward] = {then, why, false};
            flow.setDeliveryLimit(flow.delivered() + action.bytes);
            break;
        }
        case Kind::Reset:
        case Kind::Close:
            break;
        }
        if (isFinished())
            return;
        conditionsChanged(flow);
        if (isFinished())
            return;
    }
    if ((action.kind == Kind::Stall || action.kind == Kind::Blackhole) && action.durationUs > 0) {
        FaultAction resume = action;
        resume.kind = Kind::Resume;
        resume.durationUs = 0;
        scheduleAction(resume, by, m_worker.wakeUs() + action.durationUs);
    }
    refreshConditions();
}

void RelayConnection::scheduleAction(const FaultAction &action, const QString &by, qint64 atUs)
{
    m_actionTimers.push_back(std::make_unique<ActionTimer>(*this, action, by));
    m_worker.timers().schedule(m_actionTimers.back().get(), atUs);
}

void RelayConnection::resetToward(FaultAction::Target target, const QString &why)
{
    for (const Side side : {Client, Upstream}) {
        const auto as = side == Client ? FaultAction::Target::Client : FaultAction::Target::Upstream;
        if (target != FaultAction::Target::Both && target != as)
            continue;
        if (!leg(side).isOpen() || m_sideDead[side])
            continue;
        flowTo(side).uncountUnacknowledged();
        m_sideDead[side] = true;
        mark(Mark::Kind::ResetSent, side);
        leg(side).close(true);
    }
    finish(Reason::Fault, why);
}

void RelayConnection::closeCleanly(const QString &why)
{
    if (m_phase != Phase::Relaying) {
        finish(Reason::Fault, why); // nothing relayed yet: nothing to deliver
        return;
    }
    m_closing = true;
    m_closeWhy = why;
    for (Flow *flow : {&m_up, &m_down}) {
        if (flow->finPassed())
            continue;
        flow->setPaused(true);
        flow->setDeliveryLimit(flow->delivered() + flow->held());
        if (isFinished())
            return;
    }
    if (m_up.finPassed() && m_down.finPassed())
        endFlow(m_up);
}

void RelayConnection::flowLimitReached(Flow &flow)
{
    using Kind = FaultAction::Kind;
    const Side toward = flow.to();
    if (m_closing) {
        endFlow(flow);
        return;
    }
    if (m_gate && m_gate->ownsLimit(flow)) {
        m_gate->limitReached(flow);
        return;
    }
    const LimitStep step = m_limitSteps[toward];
    m_limitSteps[toward] = LimitStep();
    const auto target = toward == Upstream ? FaultAction::Target::Upstream : FaultAction::Target::Client;
    const Kind kind = step.action.kind;
    if (kind == Kind::Reset || kind == Kind::Close || (kind == Kind::HalfClose && step.action.covers(target))) {
        // Not a byte past the limit: what the flow still holds is dropped.
        flow.halt();
    } else {
        flow.setDeliveryLimit(Flow::NoLimit);
        if (isFinished())
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

void RelayConnection::endFlow(Flow &flow)
{
    if (!flow.finPassed()) {
        flow.markFinPassed();
        passFin(flow.to());
    }
    refreshConditions();
    if (!m_up.finPassed() || !m_down.finPassed())
        return;
    discardUnread(Client);
    discardUnread(Upstream);
    finish(Reason::Fault, m_closing ? m_closeWhy : m_lastFault);
}

void RelayConnection::discardUnread(Side side)
{
    Leg &from = leg(side);
    if (!from.isOpen() || m_sideDead[side])
        return;
    char *scratch = m_worker.scratch();
    const size_t capacity = size_t(m_worker.config().bufferBytes);
    for (int round = 0; round < 16; ++round) {
        bool drained = false;
        if (from.read(scratch, capacity, &drained) <= 0 || drained)
            return;
    }
}

void RelayConnection::connectDelayOver()
{
    if (!isFinished())
        reachUpstream(m_delayedHost, m_delayedPort, m_delayedTls);
}

void RelayConnection::reachUpstream(const QString &host, quint16 port, bool tls)
{
    if (m_connectDelayUs > 0) {
        // Held once, for the first upstream; the connect timeout counts
        // from the end of the hold.
        m_delayedHost = host;
        m_delayedPort = port;
        m_delayedTls = tls;
        m_startedMs = m_worker.nowMs() + m_connectDelayUs / 1000;
        m_worker.timers().schedule(&m_connectTimer, m_worker.wakeUs() + m_connectDelayUs);
        m_connectDelayUs = 0;
        return;
    }
    m_tlsHost = tls ? host : QString();
    m_connectErrors.clear();
    m_startedMs = m_worker.nowMs();
    m_phase = Phase::Resolving;
    m_record.state = State::Resolving;
    m_record.upstreamAddress.clear();
    markDirty();
    resolve(host, port);
}

void RelayConnection::resolve(const QString &host, quint16 port)
{
    ResolveResult result;
    m_resolveStartUs = -1; // an address needs no lookup, and gets no mark
    if (Resolver::resolveImmediately(host, port, &result)) {
        resolved(result);
        return;
    }
    m_resolveStartUs = MonotonicClock::nowUs();
    m_worker.lookUp(this, host, port);
}

void RelayConnection::resolved(const ResolveResult &result)
{
    // A late answer for an attempt that already timed out is dropped.
    if (m_phase != Phase::Resolving)
        return;
    if (m_resolveStartUs >= 0) {
        const qint64 nowUs = MonotonicClock::nowUs();
        ConnectionTimeline &timeline = m_record.timeline;
        timeline.resolveUs = qMax<qint64>(0, timeline.resolveUs) + (nowUs - m_resolveStartUs);
        m_resolveStartUs = -1;
        markOnLane(Mark::Kind::Resolved, Mark::Lane::Upstream, 0,
                   result.addresses.empty() ? result.error
                                            : result.addresses.front().toString()
                                                  + (result.addresses.size() > 1
                                                         ? QStringLiteral(" and %1 more").arg(result.addresses.size() - 1)
                                                         : QString()));
    }
    if (result.addresses.empty()) {
        failConnect(Reason::Error, result.error);
        return;
    }
    if (!m_policy->addressesResolved(result))
        return;
    m_addresses = result.addresses;
    m_nextAddress = 0;
    m_phase = Phase::Connecting;
    m_record.state = State::Connecting;
    markDirty();
    connectNext();
}

void RelayConnection::connectNext()
{
    while (m_nextAddress < m_addresses.size()) {
        const SocketAddress &address = m_addresses[m_nextAddress];
        const int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            const int error = errno;
            // Out of descriptors: accepting more would only turn more
            // clients away like this one, so the listener rests too.
            if (error == EMFILE || error == ENFILE)
                m_worker.descriptorsExhausted();
            failConnect(Reason::Error, QStringLiteral("cannot create a socket for %1: %2")
                                           .arg(address.toString(), errorText(error)));
            return;
        }
        TcpLeg::tune(fd);
        m_upstream.attach(fd);
        m_upstreamGeneration = (m_upstreamGeneration + 1) & 3;
        m_finSent[Upstream] = false;
        m_sideDead[Upstream] = false;
        const qint64 now = MonotonicClock::nowUs();
        if (m_connectStartUs < 0)
            m_connectStartUs = now;
        // Written once: the marks and the record share the text.
        m_attemptAddress = address.toString();
        mark(Mark::Kind::Connecting, Upstream, 0, m_attemptAddress, now);
        if (::connect(fd, address.data(), address.length) == 0) {
            watch(Upstream);
            connected(0);
            return;
        }
        const int error = errno;
        if (error == EINPROGRESS) {
            watch(Upstream);
            return;
        }
        noteConnectFailure(error);
    }
    stopConnectClock(MonotonicClock::nowUs());
    failConnect(Reason::Error, QStringLiteral("connecting to %1 failed: %2").arg(m_record.upstream, m_connectErrors));
}

void RelayConnection::connectReady(std::uint32_t events)
{
    // Writable without an error means connected; only a failure needs the
    // extra call to learn why.
    int error = 0;
    if (events & (EPOLLERR | EPOLLHUP)) {
        error = m_upstream.pendingError();
        if (error == 0)
            error = ECONNREFUSED;
    } else if (!(events & EPOLLOUT)) {
        return;
    }
    if (error == 0) {
        connected(events);
        return;
    }
    noteConnectFailure(error);
    connectNext();
}

void RelayConnection::stopConnectClock(qint64 nowUs)
{
    if (m_connectStartUs < 0)
        return;
    ConnectionTimeline &timeline = m_record.timeline;
    timeline.connectUs = qMax<qint64>(0, timeline.connectUs) + (nowUs - m_connectStartUs);
    m_connectStartUs = -1;
}

void RelayConnection::noteConnectFailure(int error)
{
    // Every address tried is named in the record, with why it failed.
    m_upstream.close(false);
    mark(Mark::Kind::ConnectFailed, Upstream, error, m_attemptAddress);
    if (!m_connectErrors.isEmpty())
        m_connectErrors += QStringLiteral("; ");
    m_connectErrors += QStringLiteral("%1: %2").arg(m_attemptAddress, errorText(error));
    ++m_nextAddress;
}

void RelayConnection::connected(std::uint32_t events)
{
    m_record.upstreamAddress = m_attemptAddress;
    const qint64 now = MonotonicClock::nowUs();
    stopConnectClock(now);
    mark(Mark::Kind::Connected, Upstream, 0, m_record.upstreamAddress, now);
    noteUpstreamFrom();
    m_addresses.clear();
    m_addresses.shrink_to_fit();
    if (!m_tlsHost.isEmpty()) {
        startTls();
        return;
    }
    established(events);
}

void RelayConnection::startTls()
{
    const TlsClientContext *context = m_worker.upstreamTls();
    const TlsInterception *interception = m_worker.tls().interception.get();
    const bool check = !interception || !interception->listed(TlsInterception::Hosts::Insecure, m_tlsHost);
    SSL *ssl = context ? context->session(m_tlsHost, check) : nullptr;
    if (!ssl) {
        failConnect(Reason::Error, QStringLiteral("cannot start TLS toward %1").arg(m_record.upstream));
        return;
    }
    // The TLS leg takes the socket over; the flows use it from now on.
    m_upstreamTls = std::make_unique<TlsLeg>(m_upstream.detach(), ssl);
    m_upstreamLeg = m_upstreamTls.get();
    m_up.replaceLeg(m_upstream, *m_upstreamLeg);
    m_down.replaceLeg(m_upstream, *m_upstreamLeg);
    m_phase = Phase::Handshaking;
    m_upstreamHandshaking = true;
    if (!m_clientHandshaking)
        m_handshakeStartedMs = m_worker.nowMs();
    touched();
    continueHandshake();
}

void RelayConnection::continueHandshake()
{
    switch (m_upstreamTls->handshake()) {
    case TlsLeg::Handshake::Pending:
        return;
    case TlsLeg::Handshake::Done:
        m_upstreamHandshaking = false;
        m_record.upstreamTls = tlsDetails(*m_upstreamTls, m_tlsHost);
        mark(Mark::Kind::TlsDone, Upstream, 0, m_record.upstreamTls.version);
        markDirty();
        if (!m_clientHandshaking)
            handshakesDone();
        return;
    case TlsLeg::Handshake::Failed: {
        QString why = QStringLiteral("TLS with %1 failed: %2").arg(m_tlsHost, m_upstreamTls->errorText());
        if (m_worker.upstreamTls()->verifies() && m_upstreamTls->errorText().startsWith(QLatin1String("certificate")))
            why += QStringLiteral(" (--insecure-host %1 relays it unchecked; --upstream-ca FILE trusts its issuer)").arg(m_tlsHost);
        m_upstreamHandshaking = false;
        if (m_clientTls) {
            // The client's own handshake completes first: it is told in
            // HTTP, which it can read only over its TLS.
            m_upstreamFailed = true;
            m_upstreamFailure = Reason::Error;
            m_upstreamFailureWhy = why;
            if (!m_clientHandshaking)
                handshakesDone();
            return;
        }
        failConnect(Reason::Error, why);
        return;
    }
    }
}

bool RelayConnection::intercept(const TlsServerContext &server, const QByteArray &hello, const ClientHello &parsed,
                                const QString &name, const QString &upstreamName, QString *why)
{
    const auto type = parsed.offersEcdsa ? LeafCertificate::KeyType::Ecdsa : LeafCertificate::KeyType::Rsa;
    SSL *ssl = server.session({name}, type, why);
    if (!ssl)
        return false;
    m_clientName = name;
    m_record.clientTls.serverName = parsed.serverName;
    m_clientTls = std::make_unique<TlsLeg>(m_client.detach(), ssl, hello);
    m_clientLeg = m_clientTls.get();
    m_up.replaceLeg(m_client, *m_clientLeg);
    m_down.replaceLeg(m_client, *m_clientLeg);
    m_clientHandshaking = true;
    m_handshakeStartedMs = m_startedMs = m_worker.nowMs();
    m_tap.startSecure();
    if (m_gate)
        m_gate->startSecure();
    m_phase = Phase::Handshaking;
    if (!upstreamName.isEmpty()) {
        m_tlsHost = upstreamName;
        startTls();
    }
    if (!isFinished() && m_clientHandshaking)
        continueClientHandshake();
    return true;
}

void RelayConnection::continueClientHandshake()
{
    switch (m_clientTls->handshake()) {
    case TlsLeg::Handshake::Pending:
        return;
    case TlsLeg::Handshake::Done:
        m_clientHandshaking = false;
        m_clientReadyMs = m_worker.nowMs();
        m_record.clientTls = tlsDetails(*m_clientTls, m_record.clientTls.serverName);
        mark(Mark::Kind::TlsDone, Client, 0, m_record.clientTls.version);
        m_record.decryption = ConnectionRecord::Decryption::Decrypted;
        markDirty();
        if (!m_upstreamHandshaking)
            handshakesDone();
        return;
    case TlsLeg::Handshake::Failed:
        break;
    }
    const QString alert = m_clientTls->peerAlert();
    if (!alert.isEmpty())
        rejected(QStringLiteral("the client rejected proxymon's certificate for %1 (alert \"%2\")").arg(m_clientName, alert));
    else if (m_clientTls->errorText().startsWith(QLatin1String("the connection closed")))
        rejected(QStringLiteral("the client closed the connection during the TLS handshake for %1 "
                                "(it does not trust proxymon's certificate?)").arg(m_clientName));
    else
        rejected(QStringLiteral("TLS with the client for %1 failed: %2").arg(m_clientName, m_clientTls->errorText()));
}

void RelayConnection::rejected(const QString &why)
{
    m_record.decryption = ConnectionRecord::Decryption::Rejected;
    m_record.decryptionNote = why;
    if (TlsInterception *interception = m_worker.tls().interception.get())
        interception->clientRejected(m_clientName, why);
    finish(Reason::Error, why + QStringLiteral("; its next connections pass through undecrypted"));
}

void RelayConnection::noteSilentRejection(const QString &how)
{
    // Right after: a client that stayed a while and then left without a
    // request merely had nothing to say.
    constexpr qint64 RightAfterMs = 2000;
    if (!m_clientTls || m_record.decryption != ConnectionRecord::Decryption::Decrypted || m_record.requests > 0
        || m_up.delivered() > 0 || m_worker.nowMs() - m_clientReadyMs > RightAfterMs)
        return;
    m_record.decryption = ConnectionRecord::Decryption::Rejected;
    m_record.decryptionNote = QStringLiteral("the client %1 right after the TLS handshake for %2 without a byte "
                                             "(it pins its certificates?)").arg(how, m_clientName);
    if (TlsInterception *interception = m_worker.tls().interception.get())
        interception->clientRejected(m_clientName, m_record.decryptionNote);
}

void RelayConnection::mirrorTruncation()
{
    if (m_clientTls && m_upstreamTls) {
        if (m_clientTls->truncated())
            m_upstreamTls->skipCloseNotify();
        if (m_upstreamTls->truncated())
            m_clientTls->skipCloseNotify();
    }
}

void RelayConnection::handshakesDone()
{
    if (m_upstreamFailed) {
        // The client's TLS is up; the policy tells it why there is no
        // upstream once it asks.
        failConnect(m_upstreamFailure, m_upstreamFailureWhy);
        return;
    }
    // Bytes may already wait inside OpenSSL: read as if the socket said so.
    established(EPOLLIN);
}

TlsDetails RelayConnection::tlsDetails(const TlsLeg &leg, const QString &serverName) const
{
    TlsDetails details;
    details.version = leg.version();
    details.cipher = leg.cipher();
    details.alpn = QString::fromLatin1(leg.alpn());
    details.serverName = serverName;
    details.handshakeMs = qint32(m_worker.nowMs() - m_handshakeStartedMs);
    if (&leg == m_upstreamTls.get()) {
        details.verification = leg.verification();
        details.chainPem = leg.peerChainPem();
    }
    return details;
}

void RelayConnection::established(std::uint32_t events)
{
    m_phase = Phase::Relaying;
    // An HTTP proxy's client may have sent its FIN with its request.
    m_record.state = m_up.ended() ? State::ClientHalfClosed : State::Open;
    touched();
    markDirty();
    m_policy->connected(events);
}

void RelayConnection::closeUpstream()
{
    if (m_upstreamLeg->isOpen() && !m_finSent[Upstream] && !m_sideDead[Upstream])
        mark(Mark::Kind::FinSent, Upstream);
    m_upstreamLeg->close(false);
    if (m_upstreamTls) {
        m_up.replaceLeg(*m_upstreamTls, m_upstream);
        m_down.replaceLeg(*m_upstreamTls, m_upstream);
        m_upstreamLeg = &m_upstream;
        m_upstreamTls.reset();
    }
}

void RelayConnection::failConnect(Reason reason, const QString &why)
{
    m_policy->connectFailed(reason, why);
}

void RelayConnection::noteUpstreamFrom()
{
    const SocketAddress local = m_upstream.local();
    m_record.upstreamFrom = local.length ? local.toString() : QString();
}

void RelayConnection::adoptUpstream(int fd, const QString &address)
{
    closeUpstream();
    m_upstream.attach(fd);
    m_upstreamGeneration = (m_upstreamGeneration + 1) & 3;
    m_finSent[Upstream] = false;
    m_sideDead[Upstream] = false;
    mark(Mark::Kind::Reused, Upstream, 0, address);
    watch(Upstream);
    m_record.upstreamAddress = address;
    noteUpstreamFrom();
    markDirty();
}

int RelayConnection::detachUpstream()
{
    if (!m_upstream.isOpen())
        return -1;
    epoll_ctl(m_worker.epollDescriptor(), EPOLL_CTL_DEL, m_upstream.descriptor(), nullptr);
    return m_upstream.detach();
}

void RelayConnection::handleEvent(std::uintptr_t tag, std::uint32_t events)
{
    if (isFinished())
        return;
    const Side side = Side(tag & 1);
    if (side == Upstream) {
        if (((tag >> 1) & 3) != m_upstreamGeneration || !m_upstreamLeg->isOpen())
            return; // about an upstream socket already closed
        if (m_phase == Phase::Connecting) {
            connectReady(events);
            return;
        }
        if (m_phase == Phase::Handshaking && m_upstreamHandshaking) {
            continueHandshake();
            return;
        }
    } else if (m_clientHandshaking) {
        continueClientHandshake();
        return;
    }
    m_policy->handleEvent(side, events);
}

void RelayConnection::pumpAgain(Side side)
{
    if (!isFinished())
        m_policy->pumpAgain(side);
}

void RelayConnection::yield(Side side)
{
    m_worker.pumpLater(this, side);
}

void RelayConnection::noteFin(Side side)
{
    if (!m_anyFin) {
        m_anyFin = true;
        m_firstFin = side;
    }
}

void RelayConnection::sideFailed(Side side, int error)
{
    if (!m_sideDead[side]) {
        m_sideDead[side] = true;
        mark(isResetError(error) ? Mark::Kind::Reset : Mark::Kind::Failed, side, error);
    }
    if (m_policy->sideFailed(side, error))
        return;
    if (isResetError(error)) {
        abort(side, side == Client ? Reason::ClientReset : Reason::UpstreamReset, QString());
        return;
    }
    // A TLS failure says what OpenSSL said.
    const TlsLeg *tls = side == Client ? m_clientTls.get() : m_upstreamTls.get();
    if (error == EPROTO && tls && !tls->errorText().isEmpty()) {
        abort(side, Reason::Error, QStringLiteral("%1: TLS: %2").arg(sideName(side), tls->errorText()));
        return;
    }
    abort(side, Reason::Error, QStringLiteral("%1: %2").arg(sideName(side), errorText(error)));
}

void RelayConnection::abort(Side culprit, Reason reason, const QString &why)
{
    // Pass the failure on as a reset so that the other side does not take a
    // broken connection for a complete one.
    const Side other = culprit == Client ? Upstream : Client;
    flowTo(culprit).uncountUnacknowledged();
    flowTo(other).uncountUnacknowledged();
    if (leg(other).isOpen() && !m_sideDead[other]) {
        m_sideDead[other] = true;
        mark(Mark::Kind::ResetSent, other);
    }
    leg(other).close(true);
    // Once the end was decided (an HTTP proxy answered and is closing), how
    // the client then leaves (curl resets without reading a 502's body)
    // does not replace what proxymon knew.
    Reason decided;
    if (m_policy->endDecided(&decided))
        finish(decided, m_record.error);
    else
        finish(reason, why);
}

void RelayConnection::terminate(Reason reason, const QString &why)
{
    finish(reason, why);
}

void RelayConnection::finish(Reason reason, const QString &why)
{
    if (isFinished())
        return;
    m_phase = Phase::Finished;
    m_worker.timers().cancel(&m_connectTimer);
    for (const auto &timer : m_actionTimers)
        m_worker.timers().cancel(timer.get());
    // Closing a leg sends its FIN, unless one went already or the side is
    // gone; a wait for a destination cut short by the end is marked too.
    const qint64 now = MonotonicClock::nowUs();
    for (const Side side : {Client, Upstream}) {
        if (leg(side).isOpen() && !m_finSent[side] && !m_sideDead[side])
            mark(Mark::Kind::FinSent, side, 0, QString(), now);
        const Flow &into = flowTo(side);
        if (into.waitingSinceUs() >= 0 && now - into.waitingSinceUs() >= StallMarkUs
            && m_markedStalls < MaxMarkedStalls)
            addMark({0, Mark::Kind::StallStart, laneOf(side), 0, QString()}, into.waitingSinceUs());
    }
    m_clientLeg->close(false);
    m_upstreamLeg->close(false);
    if (m_policy)
        m_policy->ended();
    m_up.release(true);
    m_down.release(true);
    if (m_gate)
        m_gate->stop();
    m_tap.finish();
    m_record.state = State::Closed;
    m_record.closeReason = reason;
    m_record.error = why;
    m_record.closedMs = QDateTime::currentMSecsSinceEpoch();
    markOnLane(Mark::Kind::Closed, Mark::Lane::Connection, qint32(reason), why, now);
    m_worker.connectionFinished(this);
}

void RelayConnection::setPolicy(std::unique_ptr<SessionPolicy> policy)
{
    m_retiredPolicy = std::move(m_policy);
    m_policy = std::move(policy);
}

void RelayConnection::checkTimeouts(qint64 nowMs)
{
    if (isFinished())
        return;
    const ProxyConfig &config = m_worker.config();
    if (m_clientHandshaking && nowMs - m_handshakeStartedMs >= config.connectTimeoutMs) {
        markOnLane(Mark::Kind::Timeout, Mark::Lane::Client, 0, QStringLiteral("TLS handshake"));
        terminate(Reason::Timeout, QStringLiteral("the client's TLS handshake did not finish in %1 ms")
                                       .arg(config.connectTimeoutMs));
        return;
    }
    if (m_phase == Phase::Resolving || m_phase == Phase::Connecting
        || (m_phase == Phase::Handshaking && m_upstreamHandshaking)) {
        if (nowMs - m_startedMs >= config.connectTimeoutMs) {
            QString why = QStringLiteral("connecting to %1 timed out after %2 ms")
                              .arg(m_record.upstream).arg(config.connectTimeoutMs);
            if (!m_connectErrors.isEmpty())
                why += QStringLiteral(" (%1)").arg(m_connectErrors);
            stopConnectClock(MonotonicClock::nowUs());
            markOnLane(Mark::Kind::Timeout, Mark::Lane::Upstream, 0,
                       m_phase == Phase::Handshaking ? QStringLiteral("TLS handshake") : QStringLiteral("connect"));
            failConnect(Reason::Timeout, why);
        }
        return;
    }
    const qint64 quiet = nowMs - m_lastActivityMs;
    if (m_anyFin && quiet >= config.halfCloseTimeoutMs) {
        markOnLane(Mark::Kind::Timeout, Mark::Lane::Connection, 0, QStringLiteral("half-close"));
        terminate(Reason::Timeout, QStringLiteral("half-closed and idle for %1 ms").arg(config.halfCloseTimeoutMs));
    } else if (quiet >= config.idleTimeoutMs) {
        markOnLane(Mark::Kind::Timeout, Mark::Lane::Connection, 0, QStringLiteral("idle"));
        terminate(Reason::Timeout, QStringLiteral("idle for %1 ms").arg(config.idleTimeoutMs));
    }
}

void RelayConnection::watch(Side side)
{
    // Edge-triggered and registered once for everything: no epoll_ctl per
    // change of direction. The price is reading until the kernel has no
    // more, which Flow::pump() does.
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    static_assert(alignof(std::max_align_t) > TagBits, "the tag's bits must be free in the pointer");
    event.data.u64 = reinterpret_cast<std::uintptr_t>(this) | side | (side == Upstream ? m_upstreamGeneration << 1 : 0);
    epoll_ctl(m_worker.epollDescriptor(), EPOLL_CTL_ADD, leg(side).descriptor(), &event);
}

void RelayConnection::touched()
{
    m_lastActivityMs = m_worker.nowMs();
}

void RelayConnection::markDirty()
{
    m_worker.markDirty(this);
}

void RelayConnection::capture(const Flow &flow, const char *data, qsizetype size)
{
    // As a flow shows its observer what it read.
    FlowObserver *observer = captureTap();
    if (observer && observer->watching(flow.fromClient()))
        observer->seen(flow.fromClient(), data, size);
}
