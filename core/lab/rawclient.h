#pragma once

#include <QByteArray>
#include <QObject>
#include <QString>

class QHostAddress;
class QHostInfo;
class QSocketNotifier;

// The lab's client as a tool: one TCP connection the user drives by hand.
// Sends what it is given, can shut down its write side (half-close) and
// keep reading, or reset the connection, and reports what comes back until
// EOF. A non-blocking POSIX socket watched by notifiers in the caller's
// thread, never blocking it; QTcpSocket cannot half-close.
class RawClient : public QObject
{
    Q_OBJECT
public:
    enum class State {
        Idle,        // never connected, or closed
        Connecting,
        Open,
        WriteShut,   // we shut down our side; reading goes on
        PeerShut,    // the peer sent FIN; we may still send
        Closed,      // both sides done, reset, or failed: see why()
    };
    Q_ENUM(State)

    explicit RawClient(QObject *parent = nullptr);
    ~RawClient() override;

    // An IP address literal, "localhost" or a host name (looked up without
    // blocking: QHostInfo's own threads); the port 1-65535. What is sent or
    // shut down meanwhile waits for the connection.
    void connectTo(const QString &host, quint16 port);
    // Queued and written as the socket takes it.
    void send(const QByteArray &bytes);
    // Half-close, once what was queued has gone out.
    void shutdownWrite();
    // Abortive close: the peer sees a reset.
    void reset();
    // Orderly close of both directions.
    void close();

    State state() const { return m_state; }
    QString why() const { return m_why; }
    quint64 bytesSent() const { return m_sent; }
    quint64 bytesReceived() const { return m_received; }

    static QString stateText(State state);

signals:
    void stateChanged(RawClient::State state);
    void received(const QByteArray &bytes);

private:
    void setState(State state, const QString &why = QString());
    void looked(const QHostInfo &info, quint16 port);
    void open(const QHostAddress &address, quint16 port);
    bool inUse() const { return m_fd >= 0 || m_lookupId >= 0; }
    void onReadable();
    void onWritable();
    void flush();
    void fail(const QString &why);
    void release();

    int m_fd = -1;
    int m_lookupId = -1; // a host name lookup under way
    QSocketNotifier *m_readNotifier = nullptr;
    QSocketNotifier *m_writeNotifier = nullptr;
    QByteArray m_pending;
    bool m_shutAfterFlush = false;
    State m_state = State::Idle;
    QString m_why;
    quint64 m_sent = 0;
    quint64 m_received = 0;
};
