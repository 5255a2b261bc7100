// pcapng of captured connections, read by Debian's tshark: the file reads
// without complaint, each leg's bytes each way are the bytes that crossed
// it (heads as sent, chunked bodies with their framing), bytes not kept
// are a sequence gap, the FIN or RST comes from the side that sent it, and
// sequence numbers wrap past 4 GiB.

#include "capturesnapshot.h"
#include "capturestore.h"
#include "httpmessagestream.h"
#include "loopback.h"
#include "pcapngwriter.h"
#include "runningproxy.h"
#include "toolrun.h"

#include <QFile>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <sys/socket.h>

#include <mutex>

using namespace Loopback;
using Reason = ConnectionRecord::CloseReason;

namespace {

const QByteArray ChunkedAnswer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n";

// Answers by path and keeps every byte it sent on each connection.
class Origin
{
public:
    Origin()
        : m_server([this](Socket &connection, int index) { serve(connection, index); })
    {
    }
    quint16 port() const { return m_server.port(); }
    QByteArray sent(int index) const
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_sent.value(index);
    }

private:
    void send(Socket &connection, int index, const QByteArray &bytes)
    {
        sendAll(connection.fd(), bytes);
        std::lock_guard<std::mutex> lock(m_mutex);
        m_sent[index] += bytes;
    }
    void serve(Socket &connection, int index)
    {
        HttpMessageStream stream(HttpHead::Kind::Request);
        QByteArray target;
        for (;;) {
            char chunk[16384];
            const ssize_t n = ::recv(connection.fd(), chunk, sizeof chunk, 0);
            if (n <= 0)
                return;
            QList<HttpMessageStream::Event> events;
            stream.feed(QByteArrayView(chunk, n), &events);
            for (const HttpMessageStream::Event &event : events) {
                if (event.type == HttpMessageStream::Event::Type::Head)
                    target = event.head.target().toByteArray();
                if (event.type != HttpMessageStream::Event::Type::End)
                    continue;
                if (target == "/chunked") {
                    send(connection, index, ChunkedAnswer);
                } else if (target == "/big") {
                    send(connection, index, "HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n" + randomBytes(20000, 2));
                } else if (target == "/close") {
                    send(connection, index, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye");
                    return;
                } else {
                    send(connection, index, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nalpha");
                }
            }
        }
    }

    mutable std::mutex m_mutex;
    QHash<int, QByteArray> m_sent;
    ScriptedServer m_server;
};

ToolRun tshark(const QStringList &arguments)
{
    ToolRun run = ToolRun::run(QStringLiteral("tshark"), arguments, QByteArray(), 60'000);
    // What tshark says of running as root is not about the file.
    QByteArray said;
    for (const QByteArray &line : run.err.split('\n')) {
        if (!line.isEmpty() && !line.startsWith("Running as user"))
            said += line + '\n';
    }
    run.err = said;
    return run;
}

// tshark -z follow,tcp,raw: the bytes each way of one stream; lines of
// hex, the responder's indented by a tab.
QPair<QByteArray, QByteArray> follow(const QString &file, int stream);

// The same, as the runs each side sent in the order they came: true for
// the responder's.
QList<QPair<bool, QByteArray>> followInOrder(const QString &file, int stream)
{
    const ToolRun run = tshark({QStringLiteral("-r"), file, QStringLiteral("-q"), QStringLiteral("-z"),
                                QStringLiteral("follow,tcp,raw,%1").arg(stream)});
    QList<QPair<bool, QByteArray>> runs;
    for (const QByteArray &line : run.out.split('\n')) {
        const QByteArray hex = line.trimmed();
        if (hex.isEmpty() || hex.startsWith('=') || hex.contains(':'))
            continue;
        const bool responder = line.startsWith('\t');
        if (!runs.isEmpty() && runs.last().first == responder)
            runs.last().second += QByteArray::fromHex(hex);
        else
            runs.append({responder, QByteArray::fromHex(hex)});
    }
    return runs;
}

QPair<QByteArray, QByteArray> follow(const QString &file, int stream)
{
    const ToolRun run = tshark({QStringLiteral("-r"), file, QStringLiteral("-q"), QStringLiteral("-z"),
                                QStringLiteral("follow,tcp,raw,%1").arg(stream)});
    QByteArray initiator, responder;
    for (const QByteArray &line : run.out.split('\n')) {
        const QByteArray hex = line.trimmed();
        if (hex.isEmpty() || hex.startsWith('=') || hex.contains(':'))
            continue;
        (line.startsWith('\t') ? responder : initiator) += QByteArray::fromHex(hex);
    }
    return {initiator, responder};
}

} // namespace

class tst_Pcapng : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void legsCarryTheBytesThatCrossed();
    void rawConnectionInterleavesAsItsReadsCrossed();
    void sequenceNumbersWrapPast4GiB();
    void httpProxyShowsTheClientLegOnly();
};

void tst_Pcapng::initTestCase()
{
    QVERIFY2(!QStandardPaths::findExecutable(QStringLiteral("tshark")).isEmpty(),
             "tshark is not installed (scripts/test.sh installs it)");
}

void tst_Pcapng::legsCarryTheBytesThatCrossed()
{
    Origin origin;
    ProxyConfig config;
    config.listenAddress = QHostAddress(QHostAddress::LocalHost);
    config.targetHost = QStringLiteral("127.0.0.1");
    config.targetPort = origin.port();
    config.bodyPrefixBytes = 4000;
    config.stopGraceMs = 100;
    RunningProxy proxy;
    CaptureStore store;
    connect(&proxy.server, &ProxyServer::published, this,
            [&store](const QList<ConnectionRecord> &batch, const QList<HttpExchange> &exchanges) { store.add(batch, exchanges); });
    QVERIFY(proxy.start(config));
    const quint16 port = proxy.port();

    // 1: keep-alive, a body up, a chunked answer with an extension and a
    // trailer; the client ends it. 2: a body bigger than what is kept.
    // 3: the proxy.server ends it. 4: the client resets it.
    const QByteArray keepAlive = "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
                                 "POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\npayload"
                                 "GET /chunked HTTP/1.1\r\nHost: t\r\n\r\n";
    const QByteArray big = "GET /big HTTP/1.1\r\nHost: t\r\n\r\n";
    const QByteArray closing = "GET /close HTTP/1.1\r\nHost: t\r\n\r\n";
    const QByteArray resetting = "GET /a HTTP/1.1\r\nHost: t\r\n\r\n";
    QList<QByteArray> answers;
    const QList<QByteArray> requests = {keepAlive, big, closing};
    for (qsizetype i = 0; i < requests.size(); ++i) {
        const QByteArray request = requests[i];
        const bool serverEnds = request == closing;
        answers.append(offThread([&] {
            Socket client = connectTo("127.0.0.1", port);
            sendAll(client.fd(), request);
            if (!serverEnds)
                client.shutdownWrite();
            return readUntilEof(client.fd());
        }));
        QVERIFY(proxy.records.waitForClosed(int(answers.size())));
    }
    offThread([&] {
        Socket client = connectTo("127.0.0.1", port);
        sendAll(client.fd(), resetting);
        readExactly(client.fd(), 43);
        client.reset();
        return 0;
    });
    QVERIFY(proxy.records.waitForClosed(4));
    proxy.server.stop();
    QTRY_VERIFY_WITH_TIMEOUT(!proxy.server.isDraining(), 10'000);
    QCOMPARE(store.connectionCount(), 4);
    QCOMPARE(store.connectionAt(0).closeReason, Reason::ClientFin);
    QCOMPARE(store.connectionAt(2).closeReason, Reason::UpstreamFin);
    QCOMPARE(store.connectionAt(3).closeReason, Reason::ClientReset);

    QTemporaryDir directory;
    const QString path = directory.filePath(QStringLiteral("capture.pcapng"));
    {
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        QVERIFY(PcapngWriter::write(CaptureSnapshot::take(store, CaptureSelection()), &file).complete);
    }
    const ToolRun read = tshark({QStringLiteral("-r"), path});
    QVERIFY2(read.exitCode == 0 && read.err.isEmpty(), read.err.constData());
    QVERIFY2(read.out.contains("HTTP/1.1 200 OK"), read.out.left(2000).constData());

    // Streams in file order: each connection's client leg, then its upstream leg.
    const QPair<QByteArray, QByteArray> clientLeg = follow(path, 0);
    QCOMPARE(clientLeg.first, keepAlive);
    QCOMPARE(clientLeg.second, origin.sent(0));
    QVERIFY(clientLeg.second.endsWith(ChunkedAnswer));
    QCOMPARE(answers.first(), origin.sent(0));
    const QPair<QByteArray, QByteArray> upstreamLeg = follow(path, 1);
    QCOMPARE(upstreamLeg.first, keepAlive);
    QCOMPARE(upstreamLeg.second, origin.sent(0));
    QCOMPARE(follow(path, 5), qMakePair(closing, origin.sent(2)));

    // The body past the 4000 bytes kept: missing, not made up.
    const ToolRun lost = tshark({QStringLiteral("-r"), path, QStringLiteral("-Y"),
                                 QStringLiteral("tcp.stream == 2 && tcp.analysis.lost_segment"), QStringLiteral("-T"),
                                 QStringLiteral("fields"), QStringLiteral("-e"), QStringLiteral("frame.number")});
    QVERIFY2(!lost.out.trimmed().isEmpty(), "no gap shown for the body not kept");

    // Who ended each leg: the first FIN or RST of each stream and its port.
    const ToolRun ends = tshark({QStringLiteral("-r"), path, QStringLiteral("-Y"),
                                 QStringLiteral("tcp.flags.fin == 1 || tcp.flags.reset == 1"), QStringLiteral("-T"),
                                 QStringLiteral("fields"), QStringLiteral("-e"), QStringLiteral("tcp.stream"),
                                 QStringLiteral("-e"), QStringLiteral("tcp.srcport"), QStringLiteral("-e"),
                                 QStringLiteral("tcp.flags.reset")});
    QHash<int, QPair<quint16, bool>> firstEnd;
    for (const QByteArray &line : ends.out.split('\n')) {
        const QList<QByteArray> fields = line.split('\t');
        if (fields.size() < 3 || firstEnd.contains(fields[0].toInt()))
            continue;
        firstEnd.insert(fields[0].toInt(), {quint16(fields[1].toUInt()), fields[2] == "1" || fields[2] == "True"});
    }
    const auto portOf = [](const QString &address) { return quint16(address.section(QLatin1Char(':'), -1).toUInt()); };
    const ConnectionRecord keepAliveRecord = store.connectionAt(0);
    QCOMPARE(firstEnd.value(0), qMakePair(portOf(keepAliveRecord.client), false));        // the client's FIN
    QCOMPARE(firstEnd.value(1), qMakePair(portOf(keepAliveRecord.upstreamFrom), false));  // passed on by proxymon
    const ConnectionRecord closingRecord = store.connectionAt(2);
    QCOMPARE(firstEnd.value(5), qMakePair(origin.port(), false));                          // the proxy.server's FIN
    QCOMPARE(firstEnd.value(4), qMakePair(portOf(closingRecord.acceptedOn), false));       // passed on
    const ConnectionRecord resetRecord = store.connectionAt(3);
    QCOMPARE(firstEnd.value(6), qMakePair(portOf(resetRecord.client), true));              // the client's RST
    QCOMPARE(firstEnd.value(7), qMakePair(portOf(resetRecord.upstreamFrom), true));        // passed on
    QCOMPARE(portOf(resetRecord.acceptedOn), port);
}

void tst_Pcapng::rawConnectionInterleavesAsItsReadsCrossed()
{
    // An echo-like raw conversation, two rounds, with its reads kept.
    ConnectionRecord record;
    record.id = 9;
    record.client = QStringLiteral("127.0.0.1:40001");
    record.acceptedOn = QStringLiteral("127.0.0.1:8080");
    record.raw = true;
    record.clientPrefix = "ping1ping2";
    record.upstreamPrefix = "pong1pong2";
    record.rawReads = {{1000, 5, true}, {2000, 5, false}, {3000, 5, true}, {4000, 5, false}};
    record.bytesUp = 10;
    record.bytesDown = 10;
    record.openedMs = 1'800'000'000'000;
    record.closedMs = record.openedMs + 10;
    record.state = ConnectionRecord::State::Closed;
    record.closeReason = Reason::ClientFin;
    CaptureSnapshot snapshot;
    snapshot.entries.append({record, {}});
    QTemporaryDir directory;
    const QString path = directory.filePath(QStringLiteral("raw.pcapng"));
    {
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        QVERIFY(PcapngWriter::write(snapshot, &file).complete);
    }
    using Runs = QList<QPair<bool, QByteArray>>;
    QCOMPARE(followInOrder(path, 0), (Runs{{false, "ping1"}, {true, "pong1"}, {false, "ping2"}, {true, "pong2"}}));
}

void tst_Pcapng::sequenceNumbersWrapPast4GiB()
{
    // A raw connection that carried 5 GiB up, of which 3 bytes were kept.
    ConnectionRecord record;
    record.id = 7;
    record.client = QStringLiteral("127.0.0.1:40000");
    record.acceptedOn = QStringLiteral("127.0.0.1:8080");
    record.raw = true;
    record.clientPrefix = "abc";
    record.bytesUp = 5ull * 1024 * 1024 * 1024 + 3;
    record.openedMs = 1'800'000'000'000;
    record.closedMs = record.openedMs + 60'000;
    record.state = ConnectionRecord::State::Closed;
    record.closeReason = Reason::ClientFin;
    CaptureSnapshot snapshot;
    snapshot.entries.append({record, {}});
    QTemporaryDir directory;
    const QString path = directory.filePath(QStringLiteral("wrap.pcapng"));
    {
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        QVERIFY(PcapngWriter::write(snapshot, &file).complete);
    }
    const ToolRun fin = tshark({QStringLiteral("-r"), path, QStringLiteral("-Y"),
                                QStringLiteral("tcp.flags.fin == 1 && tcp.srcport == 40000"), QStringLiteral("-T"),
                                QStringLiteral("fields"), QStringLiteral("-e"), QStringLiteral("tcp.seq_raw"),
                                QStringLiteral("-e"), QStringLiteral("frame.time_epoch")});
    QVERIFY2(fin.exitCode == 0 && fin.err.isEmpty(), fin.err.constData());
    const QList<QByteArray> fields = fin.out.trimmed().split('\t');
    QCOMPARE(fields.size(), 2);
    const quint32 expected = PcapngWriter::initialSequence(7, false, true) + 1u + quint32(record.bytesUp);
    QCOMPARE(fields[0].toULongLong(), quint64(expected));
    // Nanoseconds survive: the FIN is at the close, to the nanosecond.
    QVERIFY2(fields[1].startsWith("1800000060.000000000"), fields[1].constData());
}

void tst_Pcapng::httpProxyShowsTheClientLegOnly()
{
    // With --via proxymon forwards longer heads than the client sent: the
    // upstream's count is not the client leg's, and no gap is made up.
    Origin origin;
    ProxyConfig config;
    config.listenAddress = QHostAddress(QHostAddress::LocalHost);
    config.mode = ProxyConfig::Mode::HttpProxy;
    config.addVia = true;
    config.stopGraceMs = 100;
    RunningProxy proxy;
    CaptureStore store;
    connect(&proxy.server, &ProxyServer::published, this,
            [&store](const QList<ConnectionRecord> &batch, const QList<HttpExchange> &exchanges) { store.add(batch, exchanges); });
    QVERIFY(proxy.start(config));
    const QByteArray request = "GET http://127.0.0.1:" + QByteArray::number(origin.port()) + "/a HTTP/1.1\r\nHost: 127.0.0.1:"
        + QByteArray::number(origin.port()) + "\r\n\r\n";
    const QByteArray answer = proxy.ask(request, true);
    QVERIFY(answer.endsWith("alpha"));
    QVERIFY(proxy.records.waitForClosed(1));
    proxy.server.stop();
    QTRY_VERIFY_WITH_TIMEOUT(!proxy.server.isDraining(), 10'000);
    QVERIFY(store.connectionAt(0).bytesUp > quint64(request.size())); // the Via header went up too

    QTemporaryDir directory;
    const QString path = directory.filePath(QStringLiteral("proxy.pcapng"));
    {
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        QVERIFY(PcapngWriter::write(CaptureSnapshot::take(store, CaptureSelection()), &file).complete);
    }
    const ToolRun streams = tshark({QStringLiteral("-r"), path, QStringLiteral("-T"), QStringLiteral("fields"),
                                    QStringLiteral("-e"), QStringLiteral("tcp.stream"), QStringLiteral("-e"),
                                    QStringLiteral("tcp.analysis.lost_segment")});
    QVERIFY2(streams.exitCode == 0 && streams.err.isEmpty(), streams.err.constData());
    for (const QByteArray &line : streams.out.trimmed().split('\n'))
        QCOMPARE(line.trimmed(), QByteArray("0")); // one stream, nothing lost
    QCOMPARE(follow(path, 0), qMakePair(request, answer));
}

QTEST_GUILESS_MAIN(tst_Pcapng)
#include "toolrun.h"
#include "tst_pcapng.moc"
