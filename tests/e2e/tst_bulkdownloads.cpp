// Big responses through every data path, from upstreams that write the way
// real servers do. A proxy that takes a short read for an empty socket holds
// a download until the server gives up (nginx with sendfile on did that to
// us for 60 s): here every response must arrive whole, byte for byte, with
// no pause anywhere near a second.

#include "loopback.h"
#include "runningproxy.h"

#include <QCryptographicHash>
#include <QTemporaryFile>
#include <QTest>

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

using namespace Loopback;

namespace {

constexpr qint64 MiB = 1024 * 1024;
constexpr qint64 Largest = 64 * MiB;

// How the upstream writes a body: as nginx does with sendfile on (the
// bytes reach the socket as page fragments), in a few large send()s, or in
// many small ones.
enum class Writer { Sendfile, LargeSends, SmallSends };

// How the client reaches the upstream through proxymon.
enum class Path {
    Forward,        // forwarding mode, HTTP, capture as configured
    Raw,            // forwarding mode, a binary protocol (a raw connection)
    ProxyAbsolute,  // HTTP proxy mode, absolute-form requests
    ProxyConnect,   // HTTP proxy mode, HTTP inside a CONNECT tunnel
};

// What one response took, as the client saw it.
struct Received
{
    qint64 bytes = 0;
    QByteArray digest;
    qint64 elapsedMs = 0;    // request sent to last byte read
    qint64 longestGapMs = 0; // longest wait for the next bytes
    QString error;
};

// The raw protocol's request for size bytes: 8 bytes, big-endian.
QByteArray rawRequest(qint64 size)
{
    QByteArray request;
    for (int shift = 56; shift >= 0; shift -= 8)
        request.append(char(quint64(size) >> shift));
    return request;
}

// An upstream that answers each request on a keep-alive connection with the
// first N bytes of one file, N named by the request: "GET /N" for HTTP, or
// for the raw protocol an 8-byte big-endian N whose first byte (zero) no
// HTTP parser takes for a method.
class BodyServer
{
public:
    BodyServer(const QString &file, Writer writer, bool raw, const char *address)
        : m_file(file)
        , m_writer(writer)
        , m_raw(raw)
        , m_server([this](Socket &connection, int) { serve(connection); }, address)
    {
    }

    quint16 port() const { return m_server.port(); }
    // Body bytes handed to the kernel so far, over all connections.
    qint64 written() const { return m_written.load(); }

private:
    void serve(Socket &connection)
    {
        const int file = ::open(m_file.toLocal8Bit().constData(), O_RDONLY | O_CLOEXEC);
        if (file < 0)
            return;
        QByteArray pending;
        for (;;) {
            qint64 size = -1;
            if (!readRequest(connection.fd(), &pending, &size))
                break;
            if (!m_raw) {
                const QByteArray head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                        "Content-Length: " + QByteArray::number(size) + "\r\n\r\n";
                if (!sendAll(connection.fd(), head))
                    break;
            }
            if (!writeBody(connection.fd(), file, size))
                break;
        }
        ::close(file);
    }

    bool readRequest(int fd, QByteArray *pending, qint64 *size)
    {
        char chunk[4096];
        for (;;) {
            if (m_raw && pending->size() >= 8) {
                quint64 n = 0;
                for (int i = 0; i < 8; ++i)
                    n = (n << 8) | quint8(pending->at(i));
                pending->remove(0, 8);
                *size = qint64(n);
                return *size <= Largest;
            }
            const qsizetype end = pending->indexOf("\r\n\r\n");
            if (!m_raw && end >= 0) {
                // "GET /N HTTP/1.1" (origin form; the proxy rewrites the absolute form)
                const QList<QByteArray> words = pending->left(end).split(' ');
                pending->remove(0, end + 4);
                bool ok = false;
                *size = words.size() >= 2 ? words.at(1).mid(1).toLongLong(&ok) : -1;
                return ok && *size >= 0 && *size <= Largest;
            }
            const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0)
                return false;
            pending->append(chunk, n);
        }
    }

    bool writeBody(int fd, int file, qint64 size)
    {
        if (m_writer == Writer::Sendfile) {
            off_t offset = 0;
            while (offset < size) {
                const ssize_t n = ::sendfile(fd, file, &offset, size_t(size - offset));
                if (n <= 0 && errno != EINTR)
                    return false;
                if (n > 0)
                    m_written += n;
            }
            return true;
        }
        const qint64 step = m_writer == Writer::LargeSends ? 4 * MiB : 1000;
        QByteArray buffer(step, Qt::Uninitialized);
        for (qint64 done = 0; done < size;) {
            const qint64 n = qMin(step, size - done);
            if (::pread(file, buffer.data(), size_t(n), done) != n)
                return false;
            if (!sendAll(fd, QByteArray::fromRawData(buffer.constData(), n)))
                return false;
            done += n;
            m_written += n;
        }
        return true;
    }

    const QString m_file;
    const Writer m_writer;
    const bool m_raw;
    std::atomic<qint64> m_written{0};
    ScriptedServer m_server; // last: its thread may use the members above
};

// A client of one path: opens the connection (with the CONNECT first for a
// tunnel), then asks for bodies one after another on it.
class BodyClient
{
public:
    BodyClient(Path path, const char *address, quint16 proxyPort, quint16 upstreamPort)
        : m_path(path)
        , m_upstream(QByteArray(address).contains(':') ? "[" + QByteArray(address) + "]:" + QByteArray::number(upstreamPort)
                                                       : QByteArray(address) + ":" + QByteArray::number(upstreamPort))
        , m_socket(connectTo(address, proxyPort))
    {
        if (!m_socket.isValid()) {
            m_error = QStringLiteral("cannot connect to the proxy");
            return;
        }
        // A stalled download fails here in seconds rather than at the
        // harness's timeout.
        setTimeouts(m_socket.fd(), 5'000);
        if (path == Path::ProxyConnect) {
            sendAll(m_socket.fd(), "CONNECT " + m_upstream + " HTTP/1.1\r\nHost: " + m_upstream + "\r\n\r\n");
            const QByteArray head = readHead();
            if (!head.startsWith("HTTP/1.1 200"))
                m_error = QStringLiteral("CONNECT answered: ") + QString::fromLatin1(head.left(40));
        }
    }

    Received fetch(qint64 size)
    {
        Received result;
        if (!m_error.isEmpty()) {
            result.error = m_error;
            return result;
        }
        QElapsedTimer clock;
        clock.start();
        QByteArray request;
        switch (m_path) {
        case Path::Raw:
            request = rawRequest(size);
            break;
        case Path::ProxyAbsolute:
            request = "GET http://" + m_upstream + "/" + QByteArray::number(size) + " HTTP/1.1\r\nHost: " + m_upstream
                      + "\r\n\r\n";
            break;
        case Path::Forward:
        case Path::ProxyConnect:
            request = "GET /" + QByteArray::number(size) + " HTTP/1.1\r\nHost: " + m_upstream + "\r\n\r\n";
            break;
        }
        if (!sendAll(m_socket.fd(), request)) {
            result.error = QStringLiteral("sending the request failed");
            return result;
        }
        if (m_path != Path::Raw) {
            const QByteArray head = readHead();
            if (!head.contains("\r\nContent-Length: " + QByteArray::number(size) + "\r\n")) {
                result.error = QStringLiteral("unexpected head: ") + QString::fromLatin1(head.left(200));
                return result;
            }
        }
        QCryptographicHash hash(QCryptographicHash::Sha256);
        qint64 last = clock.elapsed();
        // Body bytes that came with the head first.
        const qint64 early = qMin<qint64>(m_pending.size(), size);
        hash.addData(QByteArrayView(m_pending).first(early));
        m_pending.remove(0, early);
        result.bytes = early;
        QByteArray chunk(256 * 1024, Qt::Uninitialized);
        while (result.bytes < size) {
            const ssize_t n = ::recv(m_socket.fd(), chunk.data(), size_t(qMin<qint64>(chunk.size(), size - result.bytes)), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                result.error = n == 0 ? QStringLiteral("EOF after %1 bytes").arg(result.bytes)
                                      : QStringLiteral("no bytes for 5 s after %1 of %2").arg(result.bytes).arg(size);
                break;
            }
            const qint64 now = clock.elapsed();
            result.longestGapMs = qMax(result.longestGapMs, now - last);
            last = now;
            hash.addData(QByteArrayView(chunk.constData(), n));
            result.bytes += n;
        }
        result.elapsedMs = clock.elapsed();
        result.digest = hash.result();
        return result;
    }

private:
    QByteArray readHead()
    {
        char chunk[4096];
        for (;;) {
            const qsizetype end = m_pending.indexOf("\r\n\r\n");
            if (end >= 0) {
                const QByteArray head = m_pending.left(end + 4);
                m_pending.remove(0, end + 4);
                return head;
            }
            const ssize_t n = ::recv(m_socket.fd(), chunk, sizeof chunk, 0);
            if (n <= 0)
                return m_pending;
            m_pending.append(chunk, n);
        }
    }

    const Path m_path;
    const QByteArray m_upstream;
    Socket m_socket;
    QByteArray m_pending;
    QString m_error;
};

} // namespace

Q_DECLARE_METATYPE(Writer)
Q_DECLARE_METATYPE(Path)

class tst_BulkDownloads : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void downloads_data();
    void downloads();
    void slowReaderOfSendfile();

private:
    QByteArray digestOfFirst(qint64 size) const;

    QTemporaryFile m_file;
    QByteArray m_content;
};

void tst_BulkDownloads::initTestCase()
{
    m_content = randomBytes(Largest, 42);
    QVERIFY(m_file.open());
    QCOMPARE(m_file.write(m_content), Largest);
    QVERIFY(m_file.flush());
}

QByteArray tst_BulkDownloads::digestOfFirst(qint64 size) const
{
    return QCryptographicHash::hash(QByteArrayView(m_content).first(size), QCryptographicHash::Sha256);
}

void tst_BulkDownloads::downloads_data()
{
    QTest::addColumn<Writer>("writer");
    QTest::addColumn<Path>("path");
    QTest::addColumn<bool>("capture");
    QTest::addColumn<QByteArray>("address");
    QTest::addColumn<int>("bodyPrefix");
    const int window = ProxyConfig().bodyPrefixBytes;

    const struct { const char *name; Writer writer; } writers[] = {
        {"sendfile", Writer::Sendfile}, {"large sends", Writer::LargeSends}, {"small sends", Writer::SmallSends}};
    const struct { const char *name; Path path; bool capture; } paths[] = {
        {"forward, no capture", Path::Forward, false},
        {"forward, capture", Path::Forward, true},
        {"raw stream, capture", Path::Raw, true},
        {"http proxy, absolute form", Path::ProxyAbsolute, true},
        {"http proxy, CONNECT tunnel", Path::ProxyConnect, true},
    };
    for (const auto &writer : writers) {
        for (const auto &path : paths) {
            QTest::addRow("%s, %s, ipv4", writer.name, path.name)
                << writer.writer << path.path << path.capture << QByteArray("127.0.0.1") << window;
        }
    }
    // IPv6 on both legs, with the writer that stalled.
    for (const auto &path : paths) {
        QTest::addRow("sendfile, %s, ipv6", path.name)
            << Writer::Sendfile << path.path << path.capture << QByteArray("::1") << window;
    }
    // Headless keeps no body prefixes: bodies pass without being read.
    QTest::addRow("sendfile, forward, capture keeping no bodies, ipv4")
        << Writer::Sendfile << Path::Forward << true << QByteArray("127.0.0.1") << 0;
}

void tst_BulkDownloads::downloads()
{
    QFETCH(Writer, writer);
    QFETCH(Path, path);
    QFETCH(bool, capture);
    QFETCH(QByteArray, address);
    QFETCH(int, bodyPrefix);
    if (address.contains(':') && !ipv6Available())
        QSKIP("no IPv6 loopback on this machine");

    BodyServer upstream(m_file.fileName(), writer, path == Path::Raw, address.constData());
    ProxyConfig config;
    config.listenAddress = QHostAddress(QString::fromLatin1(address));
    config.stopGraceMs = 100;
    config.capture = capture;
    config.bodyPrefixBytes = bodyPrefix;
    if (path == Path::ProxyAbsolute || path == Path::ProxyConnect) {
        config.mode = ProxyConfig::Mode::HttpProxy;
    } else {
        config.targetHost = QString::fromLatin1(address);
        config.targetPort = upstream.port();
    }
    RunningProxy proxy;
    QVERIFY(proxy.start(config));
    const quint16 proxyPort = proxy.port();

    // Sequential on one keep-alive connection: each size after a bigger one
    // too, so a connection that stalled once is tried again.
    const QList<qint64> sizes{1 * MiB, 4 * MiB, Largest, 1 * MiB, 4 * MiB};
    const QList<Received> sequential = offThread([&] {
        QList<Received> results;
        BodyClient client(path, address.constData(), proxyPort, upstream.port());
        for (const qint64 size : sizes)
            results.append(client.fetch(size));
        return results;
    });
    QCOMPARE(sequential.size(), sizes.size());
    for (int i = 0; i < sizes.size(); ++i) {
        const Received &got = sequential.at(i);
        QVERIFY2(got.error.isEmpty(), qPrintable(QStringLiteral("response %1: %2").arg(i).arg(got.error)));
        QCOMPARE(got.bytes, sizes.at(i));
        QCOMPARE(got.digest, digestOfFirst(sizes.at(i)));
        // Nothing stalls: no wait for more bytes near a second, and the
        // bodies up to 4 MiB arrive well within one.
        QVERIFY2(got.longestGapMs < 1'000, qPrintable(QStringLiteral("response %1 paused %2 ms").arg(i).arg(got.longestGapMs)));
        if (sizes.at(i) <= 4 * MiB)
            QVERIFY2(got.elapsedMs < 1'000, qPrintable(QStringLiteral("response %1 took %2 ms").arg(i).arg(got.elapsedMs)));
    }

    // Sixteen connections at once, two bodies each.
    constexpr int Clients = 16;
    const QList<qint64> eachAsks{4 * MiB, 1 * MiB};
    const QList<Received> concurrent = offThread([&] {
        std::vector<std::thread> threads;
        QList<Received> results(Clients * eachAsks.size());
        for (int c = 0; c < Clients; ++c) {
            threads.emplace_back([&, c] {
                BodyClient client(path, address.constData(), proxyPort, upstream.port());
                for (int i = 0; i < eachAsks.size(); ++i)
                    results[c * eachAsks.size() + i] = client.fetch(eachAsks.at(i));
            });
        }
        for (std::thread &thread : threads)
            thread.join();
        return results;
    });
    for (int i = 0; i < concurrent.size(); ++i) {
        const Received &got = concurrent.at(i);
        const qint64 size = eachAsks.at(i % eachAsks.size());
        QVERIFY2(got.error.isEmpty(), qPrintable(QStringLiteral("concurrent response %1: %2").arg(i).arg(got.error)));
        QCOMPARE(got.bytes, size);
        QCOMPARE(got.digest, digestOfFirst(size));
        QVERIFY2(got.longestGapMs < 1'000, qPrintable(QStringLiteral("concurrent response %1 paused %2 ms").arg(i).arg(got.longestGapMs)));
    }

    // The proxy.records count what the clients received.
    QVERIFY(proxy.records.waitForClosed(1 + Clients));
    qint64 expectedDown = 0;
    for (const qint64 size : sizes)
        expectedDown += size;
    for (const qint64 size : eachAsks)
        expectedDown += Clients * size;
    quint64 recordedDown = 0;
    for (const ConnectionRecord &record : proxy.records.closed())
        recordedDown += record.bytesDown;
    QVERIFY2(recordedDown >= quint64(expectedDown), qPrintable(QString::number(recordedDown)));
    // Heads and tunnel answers are all the rest.
    QVERIFY2(recordedDown < quint64(expectedDown) + (1 + Clients) * 4096, qPrintable(QString::number(recordedDown)));

    // The capture saw every exchange whole, however its bytes moved: body
    // sizes, the kept prefix byte for byte, complete.
    if (!capture || path == Path::Raw || path == Path::ProxyConnect)
        return;
    const int exchanges = sizes.size() + Clients * eachAsks.size();
    QVERIFY(proxy.records.waitForExchanges(exchanges));
    QCOMPARE(proxy.records.exchanges().size(), exchanges);
    for (const HttpExchange &exchange : proxy.records.exchanges()) {
        const QByteArray target = exchange.request.target().toByteArray();
        const qint64 size = target.mid(target.lastIndexOf('/') + 1).toLongLong();
        QCOMPARE(exchange.response.status, 200);
        QVERIFY(exchange.complete);
        QCOMPARE(exchange.responseBodyBytes, quint64(size));
        const qint64 kept = qMin<qint64>(size, config.bodyPrefixBytes);
        QCOMPARE(exchange.responseBody.size(), kept);
        QVERIFY2(exchange.responseBody == QByteArrayView(m_content).first(kept), target.constData());
    }
}

void tst_BulkDownloads::slowReaderOfSendfile()
{
    // A client that reads a sendfile()'d stream slowly: the proxy holds at
    // most its one buffer, the server blocks, and every byte still arrives.
    BodyServer upstream(m_file.fileName(), Writer::Sendfile, true, "127.0.0.1");
    ProxyConfig config;
    config.listenAddress = QHostAddress(QHostAddress::LocalHost);
    config.stopGraceMs = 100;
    config.targetHost = QStringLiteral("127.0.0.1");
    config.targetPort = upstream.port();
    RunningProxy proxy;
    QVERIFY(proxy.start(config));

    Socket client = offThread([&] { return connectTo("127.0.0.1", proxy.port()); });
    QVERIFY(sendAll(client.fd(), rawRequest(Largest)));
    // While the client reads nothing, the proxy.server gets stuck once the kernel
    // buffers on the way and the proxy's one buffer are full.
    const qint64 stalledAt = waitUntilSteady([&] { return upstream.written(); });
    QVERIFY2(stalledAt < 40 * MiB, qPrintable(QStringLiteral("the proxy.server wrote %1 bytes to a client that reads nothing").arg(stalledAt)));

    // Then it reads in small sips at first, and every byte arrives.
    const QByteArray received = offThread([&] {
        QByteArray all;
        QByteArray chunk(64 * 1024, Qt::Uninitialized);
        QElapsedTimer reading;
        reading.start();
        while (all.size() < Largest && reading.elapsed() < 60'000) {
            const ssize_t n = ::recv(client.fd(), chunk.data(), size_t(chunk.size()), 0);
            if (n <= 0)
                break;
            all.append(chunk.constData(), n);
            if (all.size() < 8 * MiB)
                QThread::usleep(2'000);
        }
        return all;
    });
    QCOMPARE(received.size(), Largest);
    QCOMPARE(QCryptographicHash::hash(received, QCryptographicHash::Sha256), digestOfFirst(Largest));
    client.close();
    QVERIFY(proxy.records.waitForClosed(1));
}

QTEST_GUILESS_MAIN(tst_BulkDownloads)
#include "tst_bulkdownloads.moc"
