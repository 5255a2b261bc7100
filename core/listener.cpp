#include "listener.h"

#include <QEvent>
#include <QSocketNotifier>

namespace {

// Readable but nothing accepted, this many times in a row: accept() is
// failing. A spurious wake-up happens; three in a row do not.
constexpr int StallThreshold = 3;

} // namespace

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

void Listener::resume()
{
    m_emptyActivations = 0;
    resumeAccepting();
}

void Listener::incomingConnection(qintptr descriptor)
{
    m_emptyActivations = 0;
    emit descriptorAccepted(descriptor);
}

bool Listener::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_notifier && event->type() == QEvent::SockAct) {
        if (++m_emptyActivations >= StallThreshold) {
            m_emptyActivations = 0;
            pauseAccepting();
            emit acceptStalled();
            return true;
        }
    }
    return QTcpServer::eventFilter(watched, event);
}
