#include "upstreamconnector.h"

#include "monotonicclock.h"
#include "systemerror.h"
#include "tcpleg.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>

void UpstreamConnector::setAddresses(std::vector<SocketAddress> addresses)
{
    m_addresses = std::move(addresses);
    m_next = 0;
}

UpstreamConnector::Attempt UpstreamConnector::next(TcpLeg &leg)
{
    if (m_next >= m_addresses.size())
        return {Result::Exhausted, 0, MonotonicClock::nowUs()};
    const SocketAddress &address = m_addresses[m_next];
    // Written once: the marks and the record share the text.
    m_address = address.toString();
    const int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return {Result::NoSocket, errno, MonotonicClock::nowUs()};
    TcpLeg::tune(fd);
    leg.attach(fd);
    const qint64 now = MonotonicClock::nowUs();
    if (m_clockStartUs < 0)
        m_clockStartUs = now;
    if (::connect(fd, address.data(), address.length) == 0)
        return {Result::Connected, 0, now};
    const int error = errno;
    if (error == EINPROGRESS)
        return {Result::InProgress, 0, now};
    return failed(leg, error, now);
}

UpstreamConnector::Attempt UpstreamConnector::ready(TcpLeg &leg, std::uint32_t events)
{
    // Writable without an error means connected; only a failure needs the
    // extra call to learn why.
    if (events & (EPOLLERR | EPOLLHUP)) {
        const int error = leg.pendingError();
        return failed(leg, error ? error : ECONNREFUSED, MonotonicClock::nowUs());
    }
    if (!(events & EPOLLOUT))
        return {Result::InProgress, 0, 0};
    return {Result::Connected, 0, MonotonicClock::nowUs()};
}

UpstreamConnector::Attempt UpstreamConnector::failed(TcpLeg &leg, int error, qint64 nowUs)
{
    // Every address tried is named, with why it failed.
    leg.close(false);
    if (!m_errors.isEmpty())
        m_errors += QStringLiteral("; ");
    m_errors += QStringLiteral("%1: %2").arg(m_address, SystemError::text(error));
    ++m_next;
    return {Result::Failed, error, nowUs};
}

qint64 UpstreamConnector::stopClock(qint64 nowUs)
{
    if (m_clockStartUs < 0)
        return -1;
    const qint64 took = nowUs - m_clockStartUs;
    m_clockStartUs = -1;
    return took;
}

