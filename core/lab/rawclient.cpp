#include "rawclient.h"

#include "resolver.h"
#include "systemerror.h"

#include <QHostAddress>
#include <QHostInfo>
#include <QSocketNotifier>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace {

QString errorText(int error)
{
    return SystemError::text(error).toLower();
}

} // namespace

RawClient::RawClient(QObject *parent)
    : QObject(parent)
{
}

RawClient::~RawClient()
{
    release();
}

QString RawClient::stateText(State state)
{
    switch (state) {
    case State::Idle: return tr("not connected");
    case State::Connecting: return tr("connecting");
    case State::Open: return tr("connected");
    case State::WriteShut: return tr("write side shut down; reading until EOF");
    case State::PeerShut: return tr("the peer closed its side (EOF); you may still send");
    case State::Closed: return tr("closed");
    }
    return QString();
}

void RawClient::setState(State state, const QString &why)
{
    m_state = state;
    m_why = why;
    emit stateChanged(state);
}

void RawClient::release()
{
    // Later, not now: this may run inside a notifier's own signal.
    for (QSocketNotifier *notifier : {m_readNotifier, m_writeNotifier}) {
        if (notifier) {
            notifier->setEnabled(false);
            notifier->deleteLater();
        }
    }
    m_readNotifier = nullptr;
    m_writeNotifier = nullptr;
    if (m_lookupId >= 0) {
        QHostInfo::abortHostLookup(m_lookupId);
        m_lookupId = -1;
    }
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = -1;
    m_pending.clear();
    m_shutAfterFlush = false;
}

void RawClient::fail(const QString &why)
{
    release();
    setState(State::Closed, why);
}

void RawClient::connectTo(const QString &host, quint16 port)
{
    release();
    m_sent = 0;
    m_received = 0;
    if (port == 0) {
        setState(State::Closed, tr("'%1:%2': the port must be between 1 and 65535").arg(host).arg(port));
        return;
    }
    const QHostAddress address = host == u"localhost" ? QHostAddress(QHostAddress::LocalHost) : QHostAddress(host);
    if (!address.isNull()) {
        open(address, port);
        return;
    }
    // RFC 6761: such a name never resolves; no need to ask anyone.
    if (host.isEmpty() || host.endsWith(u".invalid", Qt::CaseInsensitive) || host.contains(u' ')) {
        setState(State::Closed, tr("cannot resolve '%1': no such host").arg(host));
        return;
    }
    setState(State::Connecting, tr("looking up %1").arg(host));
    m_lookupId = QHostInfo::lookupHost(host, this, [this, port](const QHostInfo &info) { looked(info, port); });
}

void RawClient::looked(const QHostInfo &info, quint16 port)
{
    m_lookupId = -1;
    const QList<QHostAddress> addresses = info.addresses();
    if (info.error() != QHostInfo::NoError || addresses.isEmpty()) {
        m_pending.clear();
        m_shutAfterFlush = false;
        setState(State::Closed, tr("cannot resolve '%1': %2")
                                    .arg(info.hostName(), info.error() == QHostInfo::NoError ? tr("no address")
                                                                                             : info.errorString()));
        return;
    }
    // IPv4 first: a local server more often listens there only.
    auto chosen = std::find_if(addresses.begin(), addresses.end(), [](const QHostAddress &a) {
        return a.protocol() == QAbstractSocket::IPv4Protocol;
    });
    open(chosen != addresses.end() ? *chosen : addresses.first(), port);
}

void RawClient::open(const QHostAddress &address, quint16 port)
{
    const SocketAddress target = SocketAddress::fromHostAddress(address, port);
    m_fd = ::socket(target.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m_fd < 0) {
        fail(tr("cannot make a socket: %1").arg(errorText(errno)));
        return;
    }
    m_readNotifier = new QSocketNotifier(qintptr(m_fd), QSocketNotifier::Read, this);
    m_writeNotifier = new QSocketNotifier(qintptr(m_fd), QSocketNotifier::Write, this);
    connect(m_readNotifier, &QSocketNotifier::activated, this, &RawClient::onReadable);
    connect(m_writeNotifier, &QSocketNotifier::activated, this, &RawClient::onWritable);
    m_readNotifier->setEnabled(false);
    if (::connect(m_fd, target.data(), target.length) != 0 && errno != EINPROGRESS) {
        fail(tr("connect failed: %1").arg(errorText(errno)));
        return;
    }
    setState(State::Connecting);
}

void RawClient::send(const QByteArray &bytes)
{
    if (!inUse() || m_state == State::WriteShut || m_state == State::Closed || m_shutAfterFlush)
        return;
    m_pending.append(bytes);
    if (m_state != State::Connecting)
        flush();
}

void RawClient::shutdownWrite()
{
    if (!inUse() || m_state == State::WriteShut || m_state == State::Closed)
        return;
    m_shutAfterFlush = true;
    if (m_state != State::Connecting)
        flush();
}

void RawClient::reset()
{
    if (!inUse())
        return;
    const linger abortive{1, 0};
    if (m_fd >= 0)
        ::setsockopt(m_fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
    release();
    setState(State::Closed, tr("reset by you"));
}

void RawClient::close()
{
    if (!inUse())
        return;
    release();
    setState(State::Closed, tr("closed by you"));
}

void RawClient::onWritable()
{
    if (m_state == State::Connecting) {
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(m_fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
            fail(tr("connect failed: %1").arg(errorText(error)));
            return;
        }
        m_readNotifier->setEnabled(true);
        setState(State::Open);
    }
    flush();
}

void RawClient::flush()
{
    while (!m_pending.isEmpty()) {
        const ssize_t sent = ::send(m_fd, m_pending.constData(), size_t(m_pending.size()), MSG_NOSIGNAL);
        if (sent > 0) {
            m_sent += quint64(sent);
            m_pending.remove(0, sent);
            continue;
        }
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            m_writeNotifier->setEnabled(true);
            return;
        }
        fail(tr("send failed: %1").arg(errorText(errno)));
        return;
    }
    m_writeNotifier->setEnabled(false);
    if (m_shutAfterFlush) {
        m_shutAfterFlush = false;
        ::shutdown(m_fd, SHUT_WR);
        if (m_state == State::PeerShut) {
            release();
            setState(State::Closed, tr("both sides closed"));
        } else {
            setState(State::WriteShut);
        }
    }
}

void RawClient::onReadable()
{
    char buffer[65536];
    for (;;) {
        const ssize_t n = ::recv(m_fd, buffer, sizeof buffer, 0);
        if (n > 0) {
            m_received += quint64(n);
            emit received(QByteArray(buffer, n));
            if (m_fd < 0)
                return; // a receiver closed us
            continue;
        }
        if (n == 0) {
            m_readNotifier->setEnabled(false);
            if (m_state == State::WriteShut) {
                release();
                setState(State::Closed, tr("both sides closed (EOF after your half-close)"));
            } else {
                setState(State::PeerShut);
            }
            return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
        if (errno == EINTR)
            continue;
        fail(errno == ECONNRESET ? tr("reset by the peer") : tr("receive failed: %1").arg(errorText(errno)));
        return;
    }
}
