#include "capturestore.h"
#include "loopback.h"
#include "httpheadparser.h"
#include "proxyserver.h"

#include <QSignalSpy>
#include <QTest>

using namespace Loopback;

namespace {

// Mirrors the store through its listener the way a model does, and checks
// that every change is announced before it happens and in step with it.
class MirrorListener : public CaptureStore::Listener
{
public:
    explicit MirrorListener(const CaptureStore &store) : m_store(store) {}

    bool matches() const
    {
        bool same = consistent;
        for (qsizetype row = 0; same && row < connections.size(); ++row)
            same = connections[row] == m_store.connectionAt(row).id;
        for (qsizetype row = 0; same && row < exchanges.size(); ++row)
            same = exchanges[row] == m_store.exchangeAt(row).connectionId;
        return same;
    }

    QList<quint64> connections; // ids, in rows
    QList<quint64> exchanges;   // connection id of each exchange row
    int changed = 0;
    int runs = 0;
    int insertions = 0;
    bool consistent = true;

    void connectionsAboutToBeInserted(qsizetype first, qsizetype last) override
    {
        m_pending = {first, last};
        ++insertions;
    }
    void connectionsInserted() override
    {
        for (qsizetype row = m_pending.first; row <= m_pending.second; ++row)
            connections.insert(row, m_store.connectionAt(row).id);
        check();
    }
    void connectionsAboutToBeRemoved(qsizetype first, qsizetype last) override
    {
        connections.remove(first, last - first + 1);
    }
    void connectionsRemoved() override { check(); }
    void connectionsChanged(qsizetype first, qsizetype last) override
    {
        changed += int(last - first + 1);
        ++runs;
        check();
    }
    void exchangesAboutToBeInserted(qsizetype first, qsizetype last) override { m_pending = {first, last}; }
    void exchangesInserted() override
    {
        for (qsizetype row = m_pending.first; row <= m_pending.second; ++row)
            exchanges.insert(row, m_store.exchangeAt(row).connectionId);
        check();
    }
    void exchangesAboutToBeRemoved(qsizetype first, qsizetype last) override
    {
        exchanges.remove(first, last - first + 1);
    }
    void exchangesRemoved() override { check(); }
    void aboutToBeCleared() override {}
    void cleared() override
    {
        connections.clear();
        exchanges.clear();
        check();
    }

private:
    // Sizes on every change; contents once, by matches(), which would make
    // a long test quadratic here.
    void check()
    {
        consistent = consistent && connections.size() == m_store.connectionCount()
            && exchanges.size() == m_store.exchangeCount();
    }

    const CaptureStore &m_store;
    std::pair<qsizetype, qsizetype> m_pending;
};

ConnectionRecord record(quint64 id, bool closed)
{
    ConnectionRecord r;
    r.id = id;
    r.client = QStringLiteral("127.0.0.1:4000");
    r.upstream = QStringLiteral("127.0.0.1:80");
    r.state = closed ? ConnectionRecord::State::Closed : ConnectionRecord::State::Open;
    return r;
}

HttpExchange exchange(quint64 connection, int sequence, qsizetype bodyBytes = 0)
{
    HttpExchange x;
    x.connectionId = connection;
    x.sequence = sequence;
    x.request = HttpHeadParser::parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", HttpHead::Kind::Request, 100, false);
    x.responseBody = QByteArray(bodyBytes, 'x');
    return x;
}

} // namespace

class tst_CaptureStore : public QObject
{
    Q_OBJECT

private slots:
    void recordsAreUpdatedInPlace();
    void lateIdsGoInRuns();
    void exchangesAreAppended();
    void oldestFinishedConnectionsGoFirst();
    void bytesEvictOldestExchanges();
    void liveConnectionEvictedStaysOut();
    void clearForgetsEverything();
    void longCaptureStaysBounded();
    void holdsWhatTheProxyReports();
};

void tst_CaptureStore::recordsAreUpdatedInPlace()
{
    CaptureStore store;
    MirrorListener mirror(store);
    store.addListener(&mirror);
    store.add({record(1, false), record(3, false)}, {});
    store.add({record(2, false)}, {}); // overtaken by a busier worker
    ConnectionRecord later = record(1, true);
    later.bytesUp = 42;
    store.add({later}, {});
    QCOMPARE(mirror.connections, QList<quint64>({1, 2, 3}));
    QCOMPARE(store.connectionAt(0).bytesUp, quint64(42));
    QCOMPARE(store.connectionRow(3), 2);
    QCOMPARE(store.connectionRow(9), -1);
    QCOMPARE(mirror.changed, 1);
    QVERIFY(mirror.matches());
    // Changes come in runs of neighbouring rows, not one range over the
    // rows between them.
    mirror.changed = 0;
    mirror.runs = 0;
    store.add({record(3, false), record(1, false)}, {});
    QCOMPARE(mirror.changed, 2);
    QCOMPARE(mirror.runs, 2);
    mirror.changed = 0;
    mirror.runs = 0;
    store.add({record(2, false), record(1, false)}, {});
    QCOMPARE(mirror.changed, 2);
    QCOMPARE(mirror.runs, 1);
}

void tst_CaptureStore::lateIdsGoInRuns()
{
    // One worker's batch comes after the other's higher ids: its records go
    // between the held rows, each contiguous run in one announcement.
    CaptureStore store;
    MirrorListener mirror(store);
    store.addListener(&mirror);
    store.add({record(1, false), record(2, false), record(10, false), record(11, false)}, {});
    QCOMPARE(mirror.insertions, 1);
    mirror.insertions = 0;
    store.add({record(5, false), record(12, false), record(3, false), record(13, false), record(4, false),
               record(20, false)},
              {});
    QCOMPARE(mirror.connections, QList<quint64>({1, 2, 3, 4, 5, 10, 11, 12, 13, 20}));
    QCOMPARE(mirror.insertions, 2); // 3..5 before 10; 12, 13, 20 at the end
    for (const quint64 id : {1, 2, 3, 4, 5, 10, 11, 12, 13, 20})
        QCOMPARE(store.connectionAt(store.connectionRow(id)).id, id);
    // A late id ahead of every held row, and one between two held rows.
    mirror.insertions = 0;
    store.add({record(0, false), record(7, false)}, {});
    QCOMPARE(mirror.connections, QList<quint64>({0, 1, 2, 3, 4, 5, 7, 10, 11, 12, 13, 20}));
    QCOMPARE(mirror.insertions, 2);
    QVERIFY(mirror.matches());
}

void tst_CaptureStore::exchangesAreAppended()
{
    CaptureStore store;
    MirrorListener mirror(store);
    store.addListener(&mirror);
    store.add({record(1, false), record(2, false)}, {exchange(2, 1), exchange(1, 1)});
    store.add({}, {exchange(1, 2)});
    QCOMPARE(mirror.exchanges, QList<quint64>({2, 1, 1}));
    QCOMPARE(store.exchangeAt(2).sequence, 2);
    QVERIFY(store.stats().bytes > 0);
    QVERIFY(mirror.matches());
}

void tst_CaptureStore::oldestFinishedConnectionsGoFirst()
{
    CaptureStore::Limits limits;
    limits.maxConnections = 3;
    CaptureStore store(limits);
    MirrorListener mirror(store);
    store.addListener(&mirror);
    store.add({record(1, false), record(2, true), record(3, true)}, {exchange(2, 1), exchange(3, 1), exchange(2, 2)});
    store.add({record(4, false)}, {exchange(4, 1)});
    // 1 is live, so 2 (the oldest finished) goes, with both its exchanges.
    QCOMPARE(mirror.connections, QList<quint64>({1, 3, 4}));
    QCOMPARE(mirror.exchanges, QList<quint64>({3, 4}));
    QCOMPARE(store.stats().evictedConnections, quint64(1));
    QCOMPARE(store.stats().evictedExchanges, quint64(2));
    QVERIFY(mirror.matches());
}

void tst_CaptureStore::bytesEvictOldestExchanges()
{
    CaptureStore::Limits limits;
    limits.maxBytes = 100'000;
    CaptureStore store(limits);
    MirrorListener mirror(store);
    store.addListener(&mirror);
    store.add({record(1, false)}, {});
    for (int i = 1; i <= 10; ++i)
        store.add({}, {exchange(1, i, 30'000)});
    QVERIFY(store.stats().bytes <= limits.maxBytes);
    QCOMPARE(store.exchangeCount(), 3);
    QCOMPARE(store.exchangeAt(0).sequence, 8);
    QCOMPARE(store.stats().evictedExchanges, quint64(7));
    QCOMPARE(store.connectionCount(), 1); // the connection itself stays
    QVERIFY(mirror.matches());
}

void tst_CaptureStore::liveConnectionEvictedStaysOut()
{
    CaptureStore::Limits limits;
    limits.maxConnections = 2;
    CaptureStore store(limits);
    MirrorListener mirror(store);
    store.addListener(&mirror);
    store.add({record(1, false), record(2, false), record(3, false)}, {});
    QCOMPARE(mirror.connections, QList<quint64>({2, 3}));
    // Updates and exchanges of the evicted live connection do not bring it back.
    store.add({record(1, false)}, {exchange(1, 1)});
    QCOMPARE(mirror.connections, QList<quint64>({2, 3}));
    QCOMPARE(store.exchangeCount(), 0);
    store.add({record(1, true)}, {});
    QCOMPARE(mirror.connections, QList<quint64>({2, 3}));
    QCOMPARE(store.stats().evictedConnections, quint64(1));
    QCOMPARE(store.stats().evictedExchanges, quint64(1));
    QVERIFY(mirror.matches());
}

void tst_CaptureStore::clearForgetsEverything()
{
    CaptureStore::Limits limits;
    limits.maxConnections = 1;
    CaptureStore store(limits);
    MirrorListener mirror(store);
    store.addListener(&mirror);
    store.add({record(1, true), record(2, true)}, {exchange(2, 1)});
    store.clear();
    QCOMPARE(store.connectionCount(), 0);
    QCOMPARE(store.exchangeCount(), 0);
    QCOMPARE(store.stats().bytes, 0);
    QCOMPARE(store.stats().evictedConnections, quint64(0));
    store.add({record(3, true)}, {});
    QCOMPARE(mirror.connections, QList<quint64>({3}));
    QVERIFY(mirror.matches());
}

void tst_CaptureStore::longCaptureStaysBounded()
{
    // The defaults, fed 30,000 connections of 10 exchanges in batches the
    // way the proxy publishes them.
    CaptureStore store;
    MirrorListener mirror(store);
    store.addListener(&mirror);
    quint64 id = 0;
    for (int batch = 0; batch < 300; ++batch) {
        QList<ConnectionRecord> records;
        QList<HttpExchange> exchanges;
        for (int i = 0; i < 100; ++i) {
            records.append(record(++id, true));
            for (int sequence = 1; sequence <= 10; ++sequence)
                exchanges.append(exchange(id, sequence, 1000));
        }
        store.add(records, exchanges);
    }
    QCOMPARE(store.connectionCount(), 10'000);
    QCOMPARE(store.connectionAt(0).id, quint64(20'001));
    QCOMPARE(store.exchangeCount(), 100'000);
    QCOMPARE(store.stats().evictedConnections, quint64(20'000));
    QCOMPARE(store.stats().evictedExchanges, quint64(200'000));
    QVERIFY(store.stats().bytes <= store.limits().maxBytes);
    QVERIFY(mirror.matches());
}

void tst_CaptureStore::holdsWhatTheProxyReports()
{
    EchoServer echo;
    ProxyServer server;
    ProxyConfig config;
    config.listenAddress = QHostAddress::LocalHost;
    config.targetHost = QStringLiteral("127.0.0.1");
    config.targetPort = echo.port();
    CaptureStore::Limits limits;
    limits.maxConnections = 20;
    CaptureStore store(limits);
    MirrorListener mirror(store);
    store.addListener(&mirror);
    QObject::connect(&server, &ProxyServer::published, &server,
            [&store](const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges) {
                store.add(records, exchanges);
            });
    QVERIFY(server.start(config));
    offThread([&] {
        for (int i = 0; i < 50; ++i) {
            Socket client = connectTo("127.0.0.1", server.listenPort());
            sendAll(client.fd(), "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
            client.shutdownWrite();
            readUntilEof(client.fd());
        }
        return 0;
    });
    QTRY_VERIFY_WITH_TIMEOUT(store.stats().evictedConnections == 30 && store.connectionCount() == 20
                                 && store.connectionAt(19).isClosed(), 10'000);
    QCOMPARE(store.connectionAt(0).id + 19, store.connectionAt(19).id);
    QCOMPARE(store.exchangeCount(), 20);
    QCOMPARE(store.exchangeAt(0).request.target(), QByteArrayView("/x"));
    QVERIFY(mirror.matches());
    server.stop();
}

QTEST_GUILESS_MAIN(tst_CaptureStore)
#include "tst_capturestore.moc"
