#pragma once

#include <QByteArray>
#include <QObject>
#include <QString>

#include <atomic>

class QThread;

// Sends one HTTP request through proxymon's own listener and reads the
// answer, as a client of the proxy would, so that the exchange is captured
// like any other (the window's Resend). Through an HTTP proxy listener an
// https request first opens a CONNECT tunnel; TLS to the listener trusts
// proxymon's authority (and the system's store). Blocking sockets on a
// thread of its own, every wait bounded; the caller's thread never waits.
class ReplayClient : public QObject
{
    Q_OBJECT
public:
    struct Plan
    {
        QString listenHost;          // an address literal
        quint16 listenPort = 0;
        QByteArray tunnelAuthority;  // "host:port": CONNECT to it first (HTTP proxy, https)
        bool tls = false;            // speak TLS to the listener (after the tunnel, if any)
        QString serverName;          // SNI and the name checked
        QString authorityFile;       // proxymon's CA certificate (PEM)
        QByteArray request;          // the request's bytes, framed
        QByteArray method;           // HEAD and CONNECT answers have no body
        int timeoutMs = 30'000;
    };

    struct Outcome
    {
        QString error;           // empty: an answer came
        quint16 localPort = 0;   // the client port the capture records
        int status = 0;
        quint64 responseBytes = 0;
    };

    explicit ReplayClient(QObject *parent = nullptr);
    ~ReplayClient() override; // stops a send under way (closes its socket) and waits for it

    // One send per client.
    void start(const Plan &plan);
    bool isRunning() const;

signals:
    // On the caller's thread, once.
    void connected(quint16 localPort);
    void finished(const ReplayClient::Outcome &outcome);

private:
    Outcome run(const Plan &plan);

    QThread *m_thread = nullptr;
    std::atomic<int> m_fd{-1};
    std::atomic<bool> m_stopping{false};
};
