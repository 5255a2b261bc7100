#include "certificateauthority.h"
#include "flow.h"
#include "forwardingowner.h"
#include "legpair.h"
#include "loopback.h"
#include "pipepool.h"
#include "tcpleg.h"
#include "tlsleg.h"

#include <QTemporaryDir>
#include <QTest>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <future>

namespace {

bool waitFor(int fd, short events, int timeoutMs = 5000)
{
    pollfd ready{fd, events, 0};
    return ::poll(&ready, 1, timeoutMs) == 1;
}

// A blocking OpenSSL client over the test socket, as curl would be.
class TlsClient
{
public:
    TlsClient(int fd, X509 *trusted, int maxVersion)
        : m_context(SSL_CTX_new(TLS_client_method()))
    {
        SSL_CTX_set_max_proto_version(m_context, maxVersion);
        SSL_CTX_set_verify(m_context, SSL_VERIFY_PEER, nullptr);
        if (trusted)
            X509_STORE_add_cert(SSL_CTX_get_cert_store(m_context), trusted);
        m_ssl = SSL_new(m_context);
        SSL_set_fd(m_ssl, fd);
        SSL_set_tlsext_host_name(m_ssl, "leg.test");
        SSL_set1_host(m_ssl, "leg.test");
    }
    ~TlsClient()
    {
        SSL_free(m_ssl);
        SSL_CTX_free(m_context);
    }
    bool connect() { return SSL_connect(m_ssl) == 1; }
    bool writeAll(const QByteArray &data)
    {
        size_t done = 0;
        return SSL_write_ex(m_ssl, data.constData(), size_t(data.size()), &done) == 1 && done == size_t(data.size());
    }
    // Reads until the peer's close_notify (or failure); *clean says which.
    QByteArray readToEnd(bool *clean)
    {
        QByteArray all;
        char buffer[65536];
        size_t done = 0;
        while (SSL_read_ex(m_ssl, buffer, sizeof buffer, &done) == 1)
            all.append(buffer, qsizetype(done));
        *clean = SSL_get_error(m_ssl, 0) == SSL_ERROR_ZERO_RETURN;
        return all;
    }
    QByteArray readSome()
    {
        char buffer[4096];
        size_t done = 0;
        return SSL_read_ex(m_ssl, buffer, sizeof buffer, &done) == 1 ? QByteArray(buffer, qsizetype(done)) : QByteArray();
    }
    void closeNotify() { SSL_shutdown(m_ssl); }

private:
    SSL_CTX *m_context;
    SSL *m_ssl = nullptr;
};

} // namespace

// The TLS leg as the server side of a real loopback connection, against
// OpenSSL's own client.
class tst_TlsLeg : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void bothWays_data();
    void bothWays();
    void closeNotifyEndsOneDirectionOnly();
    void endWithoutCloseNotifyIsFlagged();
    void resetReadsAsReset();
    void clientThatRejectsTheCertificateIsNamed();
    void flowCopiesThroughIt();

private:
    // A server leg over the pair's accepted socket, with the test leaf.
    TlsLeg *serverLeg(LegPair &pair);
    // Runs the server's handshake while the client connects on its thread.
    TlsLeg::Handshake handshake(TlsLeg &leg);
    ssize_t readWaiting(TlsLeg &leg, char *into, size_t capacity);

    QTemporaryDir m_directory;
    std::unique_ptr<CertificateAuthority> m_authority;
    SSL_CTX *m_server = nullptr;
};

void tst_TlsLeg::initTestCase()
{
    // As the relay runs: OpenSSL writes to a peer that has gone (a
    // close_notify after a reset) would otherwise kill the process.
    std::signal(SIGPIPE, SIG_IGN);
    QString error;
    m_authority = CertificateAuthority::open(m_directory.path(), &error);
    QVERIFY2(m_authority, qPrintable(error));
    const auto leaf = m_authority->leaf({QStringLiteral("leg.test")}, LeafCertificate::KeyType::Ecdsa);
    m_server = SSL_CTX_new(TLS_server_method());
    QCOMPARE(SSL_CTX_use_certificate(m_server, leaf->certificate()), 1);
    QCOMPARE(SSL_CTX_use_PrivateKey(m_server, leaf->key()), 1);
}

void tst_TlsLeg::cleanupTestCase()
{
    SSL_CTX_free(m_server);
}

TlsLeg *tst_TlsLeg::serverLeg(LegPair &pair)
{
    SSL *ssl = SSL_new(m_server);
    SSL_set_accept_state(ssl);
    return new TlsLeg(pair.leg.detach(), ssl);
}

TlsLeg::Handshake tst_TlsLeg::handshake(TlsLeg &leg)
{
    QElapsedTimer clock;
    clock.start();
    for (;;) {
        const TlsLeg::Handshake state = leg.handshake();
        if (state != TlsLeg::Handshake::Pending || clock.elapsed() > 10'000)
            return state;
        waitFor(leg.descriptor(), POLLIN, 100);
    }
}

ssize_t tst_TlsLeg::readWaiting(TlsLeg &leg, char *into, size_t capacity)
{
    QElapsedTimer clock;
    clock.start();
    for (;;) {
        bool drained = true;
        const ssize_t n = leg.read(into, capacity, &drained);
        if (n >= 0 || errno != EAGAIN || clock.elapsed() > 10'000)
            return n;
        waitFor(leg.descriptor(), POLLIN | POLLRDHUP, 100);
    }
}

void tst_TlsLeg::bothWays_data()
{
    QTest::addColumn<int>("version");
    QTest::addColumn<QString>("name");
    QTest::newRow("TLS 1.3") << TLS1_3_VERSION << QStringLiteral("TLSv1.3");
    QTest::newRow("TLS 1.2") << TLS1_2_VERSION << QStringLiteral("TLSv1.2");
}

void tst_TlsLeg::bothWays()
{
    QFETCH(int, version);
    QFETCH(QString, name);
    LegPair pair;
    std::unique_ptr<TlsLeg> leg(serverLeg(pair));
    QVERIFY(!leg->canSplice());
    TlsClient client(pair.peer.fd(), m_authority->certificate(), version);
    auto connected = std::async(std::launch::async, [&] {
        if (!client.connect() || !client.writeAll("hello"))
            return QByteArray();
        return client.readSome();
    });
    QCOMPARE(handshake(*leg), TlsLeg::Handshake::Done);
    QCOMPARE(leg->version(), name);
    QVERIFY(!leg->cipher().isEmpty());
    char buffer[64];
    QCOMPARE(readWaiting(*leg, buffer, sizeof buffer), ssize_t(5));
    QCOMPARE(QByteArray(buffer, 5), QByteArray("hello"));
    // OpenSSL may hold decrypted bytes the socket no longer shows: only
    // "would block" proves the leg empty, never a read that returned data.
    bool drained = true;
    QCOMPARE(leg->read(buffer, sizeof buffer, &drained), ssize_t(-1));
    QCOMPARE(errno, EAGAIN);
    QVERIFY(!drained);
    QCOMPARE(leg->write("world", 5), ssize_t(5));
    QCOMPARE(connected.get(), QByteArray("world"));
}

void tst_TlsLeg::closeNotifyEndsOneDirectionOnly()
{
    LegPair pair;
    std::unique_ptr<TlsLeg> leg(serverLeg(pair));
    TlsClient client(pair.peer.fd(), m_authority->certificate(), TLS1_3_VERSION);
    auto session = std::async(std::launch::async, [&] {
        if (!client.connect())
            return QByteArray("no handshake");
        client.closeNotify(); // the client is done sending, and reads on
        bool clean = false;
        const QByteArray got = client.readToEnd(&clean);
        return clean ? got : QByteArray("not clean: ") + got;
    });
    QCOMPARE(handshake(*leg), TlsLeg::Handshake::Done);
    char buffer[64];
    QCOMPARE(readWaiting(*leg, buffer, sizeof buffer), ssize_t(0));
    QVERIFY(!leg->truncated());
    // The other direction still flows, then ends the same way.
    QCOMPARE(leg->write("after", 5), ssize_t(5));
    leg->shutdownWrite();
    QCOMPARE(session.get(), QByteArray("after"));
}

void tst_TlsLeg::endWithoutCloseNotifyIsFlagged()
{
    LegPair pair;
    std::unique_ptr<TlsLeg> leg(serverLeg(pair));
    TlsClient client(pair.peer.fd(), m_authority->certificate(), TLS1_3_VERSION);
    auto connected = std::async(std::launch::async, [&] {
        const bool ok = client.connect() && client.writeAll("cut");
        ::shutdown(pair.peer.fd(), SHUT_WR); // a FIN, no close_notify
        return ok;
    });
    QCOMPARE(handshake(*leg), TlsLeg::Handshake::Done);
    QVERIFY(connected.get());
    char buffer[64];
    QCOMPARE(readWaiting(*leg, buffer, sizeof buffer), ssize_t(3));
    QCOMPARE(readWaiting(*leg, buffer, sizeof buffer), ssize_t(0));
    QVERIFY(leg->truncated());
}

void tst_TlsLeg::resetReadsAsReset()
{
    LegPair pair;
    std::unique_ptr<TlsLeg> leg(serverLeg(pair));
    TlsClient client(pair.peer.fd(), m_authority->certificate(), TLS1_3_VERSION);
    auto connected = std::async(std::launch::async, [&] { return client.connect(); });
    QCOMPARE(handshake(*leg), TlsLeg::Handshake::Done);
    QVERIFY(connected.get());
    pair.peer.reset();
    char buffer[64];
    QCOMPARE(readWaiting(*leg, buffer, sizeof buffer), ssize_t(-1));
    QCOMPARE(errno, ECONNRESET);
    // And a reset the other way.
    LegPair other;
    std::unique_ptr<TlsLeg> closing(serverLeg(other));
    closing->close(true);
    int error = 0;
    Loopback::readUntilEof(other.peer.fd(), &error);
    QCOMPARE(error, ECONNRESET);
}

void tst_TlsLeg::clientThatRejectsTheCertificateIsNamed()
{
    // A client that does not trust proxymon's CA answers the certificate
    // with an alert; the leg's failure says which.
    LegPair pair;
    std::unique_ptr<TlsLeg> leg(serverLeg(pair));
    TlsClient client(pair.peer.fd(), nullptr, TLS1_3_VERSION);
    auto connected = std::async(std::launch::async, [&] { return client.connect(); });
    QCOMPARE(handshake(*leg), TlsLeg::Handshake::Failed);
    QVERIFY(!connected.get());
    QVERIFY2(leg->errorText().contains(QStringLiteral("unknown ca"), Qt::CaseInsensitive), qPrintable(leg->errorText()));
    QCOMPARE(leg->peerAlert(), QStringLiteral("unknown CA"));
}

void tst_TlsLeg::flowCopiesThroughIt()
{
    // Plaintext out of a TLS leg into a plain TCP leg: the flow copies
    // (no splice through TLS), every byte arrives, and close_notify
    // becomes a FIN.
    LegPair tls;
    std::unique_ptr<TlsLeg> source(serverLeg(tls));
    LegPair plain;
    TcpLeg &destination = plain.leg;
    TlsClient client(tls.peer.fd(), m_authority->certificate(), TLS1_3_VERSION);
    const QByteArray data = Loopback::randomBytes(3 * 1024 * 1024, 7);
    auto sender = std::async(std::launch::async, [&] {
        const bool ok = client.connect() && client.writeAll(data);
        client.closeNotify();
        return ok;
    });
    auto reader = std::async(std::launch::async, [&] { return Loopback::readUntilEof(plain.peer.fd()); });
    QCOMPARE(handshake(*source), TlsLeg::Handshake::Done);
    std::vector<char> scratch(16 * 1024);
    PipePool pipes(16 * 1024);
    const Flow::Shared shared{scratch.data(), 16 * 1024, &pipes};
    ForwardingOwner owner(destination);
    Flow flow(Flow::Client, *source, destination, shared);
    QElapsedTimer clock;
    clock.start();
    while (!flow.finPassed() && owner.failures.empty() && clock.elapsed() < 20'000) {
        pollfd ready[2] = {{source->descriptor(), POLLIN | POLLRDHUP, 0}, {destination.descriptor(), POLLOUT, 0}};
        ::poll(ready, flow.pending() ? 2 : 1, 20);
        if (flow.pending())
            owner.settle(flow, flow.flush());
        else
            owner.settle(flow, flow.pump());
    }
    QVERIFY(owner.failures.empty());
    QVERIFY(flow.finPassed());
    QVERIFY(sender.get());
    QCOMPARE(Loopback::sha256(reader.get()), Loopback::sha256(data));
    QCOMPARE(flow.delivered(), quint64(data.size()));
}

QTEST_GUILESS_MAIN(tst_TlsLeg)
#include "tst_tlsleg.moc"
