#include "upstreamreach.h"

#include "connectionrecord.h"
#include "connectiontls.h"
#include "monotonicclock.h"
#include "systemerror.h"
#include "tcpleg.h"

#include <cerrno>

namespace {

using Mark = TimelineMark;

} // namespace

UpstreamReach::UpstreamReach(TcpLeg &leg, ConnectionLife &life, ConnectionRecord &record, ConnectionTls &tls)
    : m_leg(leg)
    , m_life(life)
    , m_record(record)
    , m_secure(tls)
{
}

UpstreamReach::Outcome UpstreamReach::start(const QString &host, quint16 port, bool tls, qint64 nowUs)
{
    m_trying = std::make_unique<Trying>();
    m_trying->host = host;
    m_trying->port = port;
    if (tls)
        m_trying->tlsHost = host;
    if (m_holdUs > 0) {
        // Held once, for the first upstream; the connect timeout counts
        // from the end of the hold.
        Outcome held;
        held.heldUntilUs = nowUs + m_holdUs;
        m_holdUs = 0;
        return held;
    }
    return holdOver(nowUs);
}

UpstreamReach::Outcome UpstreamReach::holdOver(qint64)
{
    m_record.upstreamAddress.clear();
    m_record.state = ConnectionRecord::State::Resolving;
    ResolveResult immediate;
    m_trying->lookUpStartUs = -1; // an address needs no lookup, and gets no mark
    if (Resolver::resolveImmediately(m_trying->host, m_trying->port, &immediate))
        return resolved(immediate);
    m_trying->lookUpStartUs = MonotonicClock::nowUs();
    Outcome outcome;
    outcome.next = Next::LookUp;
    return outcome;
}

UpstreamReach::Outcome UpstreamReach::resolved(const ResolveResult &result)
{
    if (m_trying->lookUpStartUs >= 0) {
        const qint64 nowUs = MonotonicClock::nowUs();
        ConnectionTimeline &timeline = m_record.timeline;
        timeline.resolveUs = qMax<qint64>(0, timeline.resolveUs) + (nowUs - m_trying->lookUpStartUs);
        m_trying->lookUpStartUs = -1;
        QString note = result.error;
        if (!result.addresses.empty()) {
            note = result.addresses.front().toString();
            if (result.addresses.size() > 1)
                note += QStringLiteral(" and %1 more").arg(result.addresses.size() - 1);
        }
        m_life.mark(Mark::Kind::Resolved, Mark::Lane::Upstream, 0, note, nowUs);
    }
    Outcome outcome;
    if (result.addresses.empty()) {
        outcome.next = Next::Failed;
        outcome.why = result.error;
        return outcome;
    }
    m_trying->resolution = result;
    outcome.next = Next::Resolved;
    return outcome;
}

UpstreamReach::Outcome UpstreamReach::connect()
{
    m_trying->connector.setAddresses(std::move(m_trying->resolution.addresses));
    m_trying->resolution = ResolveResult();
    m_record.state = ConnectionRecord::State::Connecting;
    return attempt(m_trying->connector.next(m_leg));
}

UpstreamReach::Outcome UpstreamReach::attempt(UpstreamConnector::Attempt attempt)
{
    using Result = UpstreamConnector::Result;
    UpstreamConnector &connector = m_trying->connector;
    for (;;) {
        Outcome outcome;
        switch (attempt.result) {
        case Result::Exhausted:
            stopClock(attempt.atUs);
            outcome.next = Next::Failed;
            outcome.why = QStringLiteral("connecting to %1 failed: %2").arg(m_record.upstream, connector.errors());
            return outcome;
        case Result::NoSocket:
            // Out of descriptors: accepting more would only turn more
            // clients away like this one, so the listener rests too.
            outcome.next = Next::Failed;
            outcome.outOfDescriptors = attempt.error == EMFILE || attempt.error == ENFILE;
            outcome.why = QStringLiteral("cannot create a socket for %1: %2")
                              .arg(connector.address(), SystemError::text(attempt.error));
            return outcome;
        case Result::Failed:
            m_life.mark(Mark::Kind::Connecting, Mark::Lane::Upstream, 0, connector.address(), attempt.atUs);
            m_life.mark(Mark::Kind::ConnectFailed, Mark::Lane::Upstream, attempt.error, connector.address());
            attempt = connector.next(m_leg);
            continue;
        case Result::InProgress:
        case Result::Connected:
            m_life.mark(Mark::Kind::Connecting, Mark::Lane::Upstream, 0, connector.address(), attempt.atUs);
            if (attempt.result == Result::Connected)
                return connected(0, true);
            outcome.next = Next::Watch;
            return outcome;
        }
    }
}

UpstreamReach::Outcome UpstreamReach::ready(std::uint32_t events)
{
    UpstreamConnector &connector = m_trying->connector;
    const UpstreamConnector::Attempt attempt = connector.ready(m_leg, events);
    if (attempt.result == UpstreamConnector::Result::Connected)
        return connected(events, false);
    if (attempt.result != UpstreamConnector::Result::Failed)
        return Outcome();
    m_life.mark(Mark::Kind::ConnectFailed, Mark::Lane::Upstream, attempt.error, connector.address());
    return this->attempt(connector.next(m_leg));
}

UpstreamReach::Outcome UpstreamReach::connected(std::uint32_t events, bool newSocket)
{
    m_record.upstreamAddress = m_trying->connector.address();
    noteFrom();
    const qint64 nowUs = MonotonicClock::nowUs();
    stopClock(nowUs);
    m_life.mark(Mark::Kind::Connected, Mark::Lane::Upstream, 0, m_record.upstreamAddress, nowUs);
    const std::unique_ptr<Trying> done = std::move(m_trying); // reached
    Outcome outcome = done->tlsHost.isEmpty() ? Outcome() : secure(done->tlsHost);
    if (outcome.next == Next::Wait)
        outcome.next = Next::Connected;
    outcome.newSocket = newSocket;
    outcome.events = events;
    return outcome;
}

UpstreamReach::Outcome UpstreamReach::secure(const QString &host)
{
    Outcome outcome;
    outcome.leg = m_secure.startUpstream(m_leg, host, MonotonicClock::nowUs() / 1000);
    outcome.next = outcome.leg ? Next::Secured : Next::Failed;
    if (!outcome.leg)
        outcome.why = QStringLiteral("cannot start TLS toward %1").arg(m_record.upstream);
    return outcome;
}

void UpstreamReach::adopt(int fd, const QString &address)
{
    m_leg.attach(fd);
    m_life.mark(Mark::Kind::Reused, Mark::Lane::Upstream, 0, address);
    m_record.upstreamAddress = address;
    noteFrom();
}

void UpstreamReach::noteFrom()
{
    const SocketAddress local = m_leg.local();
    m_record.upstreamFrom = local.length ? local.toString() : QString();
}

QString UpstreamReach::timedOut(int timeoutMs, bool handshaking)
{
    QString why = QStringLiteral("connecting to %1 timed out after %2 ms").arg(m_record.upstream).arg(timeoutMs);
    // The connect's failures so far; none once the socket connected (the
    // upstream's TLS handshake timed out).
    if (m_trying && !m_trying->connector.errors().isEmpty())
        why += QStringLiteral(" (%1)").arg(m_trying->connector.errors());
    stopClock(MonotonicClock::nowUs());
    m_life.mark(Mark::Kind::Timeout, Mark::Lane::Upstream, 0,
                handshaking ? QStringLiteral("TLS handshake") : QStringLiteral("connect"));
    return why;
}

void UpstreamReach::stopClock(qint64 nowUs)
{
    const qint64 took = m_trying ? m_trying->connector.stopClock(nowUs) : -1;
    if (took >= 0)
        m_record.timeline.connectUs = qMax<qint64>(0, m_record.timeline.connectUs) + took;
}
