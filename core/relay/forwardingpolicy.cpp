#include "forwardingpolicy.h"

#include "relayconnection.h"
#include "worker.h"

#include <sys/epoll.h>

#include <cerrno>

using State = ConnectionRecord::State;

ForwardingPolicy::ForwardingPolicy(RelayConnection &connection)
    : m_connection(connection)
{
    // Bulk transfers may splice; the capture sees what it needs.
    FlowObserver *tap = connection.captureTap();
    for (Flow *flow : {&connection.up(), &connection.down()}) {
        flow->setObserver(tap);
        flow->setSpliceAllowed(true);
    }
}

void ForwardingPolicy::begin()
{
    const ProxyConfig &config = m_connection.worker().config();
    m_connection.reachUpstream(config.targetHost, config.targetPort);
}

void ForwardingPolicy::refuse(const QString &why)
{
    m_connection.finish(Reason::Error, why);
}

void ForwardingPolicy::connected(std::uint32_t events)
{
    // Edge-triggered: what the client sent while we were connecting raised
    // its edge long ago, so read it now rather than wait for more.
    m_connection.up().pump();
    if (!m_connection.isFinished() && (events & EPOLLIN))
        m_connection.down().pump();
}

void ForwardingPolicy::connectFailed(Reason reason, const QString &why)
{
    // The client gets an orderly close: nothing was relayed, and a reset
    // would only hide the fact that the proxy answered.
    m_connection.finish(reason, why);
}

void ForwardingPolicy::handleEvent(Side side, std::uint32_t events)
{
    if (m_connection.phase() != RelayConnection::Phase::Relaying) {
        // Still reaching the upstream: only the client's reset matters.
        if (side == Side::Client && (events & EPOLLERR)) {
            const int error = m_connection.leg(side).pendingError();
            m_connection.sideFailed(side, error ? error : ECONNRESET);
        }
        return;
    }
    Flow &from = m_connection.flowFrom(side);
    if (events & EPOLLERR) {
        // Deliver what the side sent before its reset, as a direct
        // connection would; the flow meets the error itself after the data.
        from.pump();
        if (m_connection.isFinished())
            return;
        if (const int error = m_connection.leg(side).pendingError()) {
            m_connection.sideFailed(side, error);
            return;
        }
    }
    Flow &into = m_connection.flowTo(side);
    if ((events & EPOLLOUT) && into.pending() && !into.flush())
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
        from.pump();
}

void ForwardingPolicy::pumpAgain(Side side)
{
    m_connection.flowFrom(side).pump();
}

void ForwardingPolicy::flowEnded(Flow &flow)
{
    flow.markEnded();
    m_connection.noteFin(flow.from());
    m_connection.touched();
    const bool upEnded = m_connection.up().ended();
    if (!upEnded || !m_connection.down().ended())
        m_connection.record().state = upEnded ? State::ClientHalfClosed : State::UpstreamHalfClosed;
    m_connection.markDirty();
    if (!flow.pending())
        finDue(flow);
}

void ForwardingPolicy::finDue(Flow &flow)
{
    if (flow.finPassed())
        return;
    flow.markFinPassed();
    // The last FIN of the two goes out with close() in finish(); a separate
    // shutdown() would only cost a system call per connection.
    if (!m_connection.up().finPassed() || !m_connection.down().finPassed()) {
        m_connection.leg(flow.to()).shutdownWrite();
        return;
    }
    // Both sides said FIN and everything they sent has been handed to the
    // kernel: closing now loses nothing.
    m_connection.finish(m_connection.firstFin() == Side::Client ? Reason::ClientFin : Reason::UpstreamFin, QString());
}
