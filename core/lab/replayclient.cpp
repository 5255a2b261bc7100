#include "replayclient.h"

#include "httpmessagestream.h"
#include "systemerror.h"
#include "tlsclientcontext.h"

#include <QElapsedTimer>
#include <QHostAddress>
#include <QThread>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace {

QString systemError(const char *what)
{
    return QStringLiteral("%1: %2").arg(QLatin1String(what), SystemError::text(errno));
}

QString tlsError(const char *what)
{
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    const char *reason = code ? ERR_reason_error_string(code) : nullptr;
    return QStringLiteral("%1: %2").arg(QLatin1String(what), QLatin1String(reason ? reason : "the connection ended"));
}

// The bytes either way, plain or through TLS.
class Channel
{
public:
    explicit Channel(int fd) : m_fd(fd) {}
    ~Channel()
    {
        if (m_ssl)
            SSL_free(m_ssl);
    }
    void useTls(SSL *ssl)
    {
        m_ssl = ssl;
        SSL_set_fd(m_ssl, m_fd);
    }
    bool sendAll(QByteArrayView bytes)
    {
        while (!bytes.isEmpty()) {
            const qsizetype n = m_ssl ? SSL_write(m_ssl, bytes.data(), int(qMin<qsizetype>(bytes.size(), 1 << 20)))
                                      : ::send(m_fd, bytes.data(), size_t(bytes.size()), MSG_NOSIGNAL);
            if (n <= 0)
                return false;
            bytes = bytes.sliced(n);
        }
        return true;
    }
    // > 0 bytes; 0 at the end; < 0 on an error or timeout.
    qsizetype receive(char *buffer, qsizetype size)
    {
        if (m_ssl) {
            const int n = SSL_read(m_ssl, buffer, int(size));
            if (n > 0)
                return n;
            const int error = SSL_get_error(m_ssl, n);
            return error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && errno == 0) ? 0 : -1;
        }
        return ::recv(m_fd, buffer, size_t(size), 0);
    }

private:
    int m_fd;
    SSL *m_ssl = nullptr;
};

} // namespace

ReplayClient::ReplayClient(QObject *parent)
    : QObject(parent)
{
    qRegisterMetaType<ReplayClient::Outcome>();
}

ReplayClient::~ReplayClient()
{
    if (!m_thread)
        return;
    m_stopping = true;
    const int fd = m_fd.load();
    if (fd >= 0)
        ::shutdown(fd, SHUT_RDWR); // wakes a blocked connect, send or recv
    m_thread->wait();
    delete m_thread;
}

bool ReplayClient::isRunning() const
{
    return m_thread && m_thread->isRunning();
}

void ReplayClient::start(const Plan &plan)
{
    if (m_thread)
        return;
    m_thread = QThread::create([this, plan] {
        const Outcome outcome = run(plan);
        if (!m_stopping)
            QMetaObject::invokeMethod(this, [this, outcome] { emit finished(outcome); }, Qt::QueuedConnection);
    });
    m_thread->setObjectName(QStringLiteral("proxymon-replay"));
    m_thread->start();
}

ReplayClient::Outcome ReplayClient::run(const Plan &plan)
{
    Outcome outcome;
    const QHostAddress address(plan.listenHost);
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (address.protocol() == QAbstractSocket::IPv6Protocol) {
        auto *in6 = reinterpret_cast<sockaddr_in6 *>(&storage);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(plan.listenPort);
        const Q_IPV6ADDR bytes = address.toIPv6Address();
        std::memcpy(&in6->sin6_addr, &bytes, 16);
        length = sizeof *in6;
    } else {
        auto *in4 = reinterpret_cast<sockaddr_in *>(&storage);
        in4->sin_family = AF_INET;
        in4->sin_port = htons(plan.listenPort);
        in4->sin_addr.s_addr = htonl(address.toIPv4Address());
        length = sizeof *in4;
    }
    const int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        outcome.error = systemError("cannot make a socket");
        return outcome;
    }
    m_fd = fd;
    const auto closeSocket = qScopeGuard([&] {
        m_fd = -1;
        ::close(fd);
    });
    timeval timeout{plan.timeoutMs / 1000, (plan.timeoutMs % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (m_stopping || ::connect(fd, reinterpret_cast<sockaddr *>(&storage), length) != 0) {
        outcome.error = systemError("cannot reach proxymon's listener");
        return outcome;
    }
    sockaddr_storage local{};
    socklen_t localLength = sizeof local;
    getsockname(fd, reinterpret_cast<sockaddr *>(&local), &localLength);
    outcome.localPort = ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6 *>(&local)->sin6_port
                                                          : reinterpret_cast<sockaddr_in *>(&local)->sin_port);
    const quint16 port = outcome.localPort;
    QMetaObject::invokeMethod(this, [this, port] { emit connected(port); }, Qt::QueuedConnection);

    Channel channel(fd);
    char buffer[16384];
    if (!plan.tunnelAuthority.isEmpty()) {
        const QByteArray connect = "CONNECT " + plan.tunnelAuthority + " HTTP/1.1\r\nHost: " + plan.tunnelAuthority
            + "\r\n\r\n";
        if (!channel.sendAll(connect)) {
            outcome.error = systemError("cannot send CONNECT");
            return outcome;
        }
        QByteArray answer;
        while (!answer.contains("\r\n\r\n")) {
            const qsizetype n = channel.receive(buffer, 1); // no further: the TLS that follows is not ours to read
            if (n <= 0) {
                outcome.error = QStringLiteral("the proxy closed the tunnel before answering CONNECT");
                return outcome;
            }
            answer.append(buffer, n);
        }
        if (!answer.startsWith("HTTP/1.1 200") && !answer.startsWith("HTTP/1.0 200")) {
            outcome.error = QStringLiteral("CONNECT was answered %1").arg(QString::fromUtf8(answer.left(answer.indexOf('\r'))));
            return outcome;
        }
    }
    std::shared_ptr<const TlsClientContext> context;
    if (plan.tls) {
        QString error;
        context = TlsClientContext::create(plan.authorityFile, false, nullptr, &error);
        if (!context) {
            outcome.error = QStringLiteral("cannot trust proxymon's authority: %1").arg(error);
            return outcome;
        }
        channel.useTls(context->session(plan.serverName));
    }
    if (!channel.sendAll(plan.request)) {
        outcome.error = plan.tls ? tlsError("the request could not be sent") : systemError("the request could not be sent");
        return outcome;
    }
    // Read until the answer is complete (its framing says so) or ends.
    HttpMessageStream stream(HttpHead::Kind::Response);
    stream.expectResponseTo(plan.method);
    bool ended = false;
    QElapsedTimer clock;
    clock.start();
    while (!ended && clock.elapsed() < plan.timeoutMs && !m_stopping) {
        const qsizetype n = channel.receive(buffer, sizeof buffer);
        if (n == 0) {
            QList<HttpMessageStream::Event> events;
            stream.finish(&events);
            break;
        }
        if (n < 0) {
            outcome.error = plan.tls ? tlsError("no answer") : systemError("no answer");
            return outcome;
        }
        outcome.responseBytes += quint64(n);
        QList<HttpMessageStream::Event> events;
        stream.feed(QByteArrayView(buffer, n), &events);
        for (const HttpMessageStream::Event &event : events) {
            if (event.type == HttpMessageStream::Event::Type::Head && event.head.status >= 200)
                outcome.status = event.head.status;
            // A 1xx is followed by the real answer.
            if (event.type == HttpMessageStream::Event::Type::End && outcome.status >= 200)
                ended = true;
        }
    }
    if (outcome.status == 0 && outcome.error.isEmpty())
        outcome.error = QStringLiteral("the connection ended without an answer");
    return outcome;
}
