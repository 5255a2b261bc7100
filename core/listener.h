#pragma once

#include <QTcpServer>

class QSocketNotifier;

// The accepting socket. It hands over only the descriptor: the worker that
// adopts it creates everything else in its own thread.
//
// It also notices when accepting keeps failing. Qt 6.4 treats EMFILE from
// accept() as a temporary error: it emits nothing and leaves the listener
// armed, so a full descriptor table turns into a busy loop. The listener
// watches its own read notifier, and when it fires repeatedly without a
// connection coming out, pauses and reports acceptStalled().
class Listener : public QTcpServer
{
    Q_OBJECT
public:
    using QTcpServer::QTcpServer;

    // Takes over a bound, listening descriptor.
    bool adoptListeningSocket(qintptr descriptor);
    void resume();

signals:
    // Emitted on the listener's thread for each accepted connection.
    void descriptorAccepted(qintptr descriptor);
    // Accepting failed several times in a row; the listener is paused.
    void acceptStalled();

protected:
    void incomingConnection(qintptr descriptor) override;
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    QSocketNotifier *m_notifier = nullptr;
    int m_emptyActivations = 0;
};
