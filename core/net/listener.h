#pragma once

#include "socketaddress.h"

#include <QElapsedTimer>
#include <QTcpServer>
#include <QTimer>

class QSocketNotifier;

// The accepting socket. It hands over only the descriptor and the peer's
// address (which accept4() gives for free, saving the worker a
// getpeername()): the worker that adopts it creates everything else in its
// own thread.
//
// It accepts itself, from its read notifier, at most a bounded number per
// wake-up (Qt's loop drains the whole backlog in one go, on the window's
// thread). It also notices when accepting keeps failing: a full descriptor
// table leaves the notifier readable with nothing to accept, a busy loop;
// when it fires repeatedly without a connection coming out, the listener
// pauses and reports acceptStalled().
//
// Under a burst of connections it accepts in batches: every wake-up of the
// accepting thread costs a context switch (and in a VM an interrupt between
// cores), so when activations come less than 2 ms apart and connections
// arrive together (a wake-up found more than one) it drains the backlog,
// then rests for a millisecond before looking again. Connections that come
// one at a time, each client waiting for its answer, are never held.
class Listener : public QTcpServer
{
    Q_OBJECT
public:
    explicit Listener(QObject *parent = nullptr);

    // A bound, listening, non-blocking socket on address and port, made with
    // POSIX calls so that a failure carries the OS's own error ("cannot
    // listen on 127.0.0.1:80: Permission denied (EACCES)"); -1 then. Its
    // options are set for the sockets it accepts, which inherit them.
    static int openSocket(const QHostAddress &address, quint16 port, int backlog, QString *error);
    // Takes over a bound, listening descriptor.
    bool adoptListeningSocket(qintptr descriptor);
    // The owner's pause (connection limit, back-off); the listener's own
    // batching never overrides it.
    void pause();
    void resume();

signals:
    // Emitted on the listener's thread for each accepted connection; the
    // descriptor is non-blocking and close-on-exec. peer is empty (length
    // 0) when Qt's own accept took it.
    void descriptorAccepted(qintptr descriptor, const SocketAddress &peer);
    // The connections accepted since the last of these came in one wake-up
    // (a burst's share): an owner may hand them on together.
    void wakeUpDone();
    // Accepting failed several times in a row; the listener is paused.
    void acceptStalled();

protected:
    void incomingConnection(qintptr descriptor) override;
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void accepted(qintptr descriptor, const SocketAddress &peer);
    // After a wake-up that took accepted connections: rest or not.
    void restAfter(int accepted);
    QSocketNotifier *m_notifier = nullptr;
    int m_emptyActivations = 0;
    bool m_ownerPaused = false;
    bool m_burst = false;
    bool m_restsPay = false; // connections were seen arriving together
    bool m_rested = false;   // the wake-up that ends a rest is the next
    QElapsedTimer m_clock;
    qint64 m_lastActivationNs = 0;
    QTimer m_batchTimer;
};
