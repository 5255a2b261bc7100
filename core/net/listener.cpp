#include "listener.h"

#include "endpoint.h"
#include "socketaddress.h"
#include "systemerror.h"

#include <QEvent>
#include <QHostAddress>
#include <QSocketNotifier>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace {

// Readable but nothing accepted, this many times in a row: accept() is
// failing. A spurious wake-up happens; three in a row do not.
constexpr int StallThreshold = 3;
constexpr qint64 BurstGapNs = 2'000'000;
constexpr int BatchRestMs = 1;
// Connections taken per wake-up at most: the accepting thread is the
// window's, and thousands arriving at once otherwise held it for over
// 100 ms. The notifier stays armed, so the rest come on the next turn of
// the event loop, after whatever else was waiting.
constexpr int MaxPerActivation = 128;

} // namespace

Listener::Listener(QObject *parent)
    : QTcpServer(parent)
{
    m_clock.start();
    m_batchTimer.setSingleShot(true);
    m_batchTimer.setTimerType(Qt::PreciseTimer);
    m_batchTimer.setInterval(BatchRestMs);
    connect(&m_batchTimer, &QTimer::timeout, this, [this] {
        if (!m_ownerPaused)
            resumeAccepting();
    });
}

bool Listener::adoptListeningSocket(qintptr descriptor)
{
    if (!setSocketDescriptor(descriptor))
        return false;
    for (QSocketNotifier *notifier : findChildren<QSocketNotifier *>()) {
        if (notifier->socket() == descriptor && notifier->type() == QSocketNotifier::Read) {
            m_notifier = notifier;
            notifier->installEventFilter(this);
        }
    }
    if (!m_notifier)
        qWarning("proxymon: cannot watch the listener's notifier; a full descriptor table will not be detected");
    return true;
}

void Listener::pause()
{
    m_ownerPaused = true;
    pauseAccepting();
}

void Listener::resume()
{
    m_ownerPaused = false;
    m_emptyActivations = 0;
    if (!m_batchTimer.isActive())
        resumeAccepting();
}

void Listener::incomingConnection(qintptr descriptor)
{
    accepted(descriptor, SocketAddress());
}

void Listener::accepted(qintptr descriptor, const SocketAddress &peer)
{
    m_emptyActivations = 0;
    emit descriptorAccepted(descriptor, peer);
}

void Listener::restAfter(int accepted)
{
    // Clients that wait for their answer before connecting again (a
    // script, a test suite, a browser's next page) come one by one
    // however fast they come: a rest gathers none of them and costs each
    // a millisecond. So the listener rests only once a wake-up found
    // several connections waiting, and stops when a rest gathered no more
    // than one.
    if (m_rested)
        m_restsPay = accepted > 1;
    else if (accepted > 1)
        m_restsPay = true;
    m_rested = false;
    if (m_burst && m_restsPay && !m_batchTimer.isActive()) {
        // This wake-up took its share (up to MaxPerActivation); only the
        // next look is put off. The cap bounds the time one turn of the
        // window's loop spends here, the rest the number of turns.
        pauseAccepting();
        m_batchTimer.start();
        m_rested = true;
    }
}

bool Listener::eventFilter(QObject *watched, QEvent *event)
{
    if (watched != m_notifier || event->type() != QEvent::SockAct)
        return QTcpServer::eventFilter(watched, event);
    const qint64 now = m_clock.nsecsElapsed();
    m_burst = now - m_lastActivationNs < BurstGapNs;
    m_lastActivationNs = now;
    // Accepted here rather than by Qt, whose loop drains the whole backlog.
    int accepted = 0;
    while (accepted < MaxPerActivation && !m_ownerPaused) {
        // Non-blocking from the start: the worker relays it on an epoll
        // loop, and this saves it a system call per connection.
        SocketAddress peer;
        peer.length = sizeof peer.storage;
        const int descriptor = ::accept4(int(socketDescriptor()), reinterpret_cast<sockaddr *>(&peer.storage),
                                         &peer.length, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (descriptor < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        ++accepted;
        this->accepted(descriptor, peer);
    }
    if (accepted > 0) {
        restAfter(accepted);
        emit wakeUpDone();
    } else if (++m_emptyActivations >= StallThreshold) {
        m_emptyActivations = 0;
        pause();
        emit acceptStalled();
    }
    return true;
}

int Listener::openSocket(const QHostAddress &address, quint16 port, int backlog, QString *error)
{
    const SocketAddress socketAddress = SocketAddress::fromHostAddress(address, port);
    const QString where = Endpoint::format(address.toString(), port);
    const int fd = socket(socketAddress.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        const int e = errno;
        *error = QStringLiteral("cannot listen on %1: %2 (%3)").arg(where, SystemError::text(e), SystemError::name(e));
        return -1;
    }
    // Restarting on the same port must not wait for old connections in
    // TIME_WAIT to expire.
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    // Inherited by every accepted socket (the relay forwards at once what
    // arrives; the sender's stack already decided the segmenting).
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    // Inherited too: every read then says what is left to read (see
    // RelayConnection's receive()).
    setsockopt(fd, IPPROTO_TCP, TCP_INQ, &on, sizeof on);
    // An urgent byte stays in the stream, as data to pass on, rather than
    // being taken out of it and lost.
    setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &on, sizeof on);
    if (bind(fd, socketAddress.data(), socketAddress.length) != 0 || ::listen(fd, backlog) != 0) {
        const int e = errno;
        ::close(fd);
        *error = QStringLiteral("cannot listen on %1: %2 (%3)").arg(where, SystemError::text(e), SystemError::name(e));
        return -1;
    }
    return fd;
}
