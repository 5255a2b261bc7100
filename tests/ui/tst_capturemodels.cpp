#include "capturefilter.h"
#include "capturestore.h"
#include "connectionfiltermodel.h"
#include "connectiontablemodel.h"
#include "exchangefiltermodel.h"
#include "exchangetablemodel.h"
#include "httpheadparser.h"

#include <QAbstractItemModelTester>
#include <QTest>

// The window's models over a store that evicts while the filter is on:
// the kind of churn a long capture brings, checked by Qt's model tester.
namespace {

// A store with the window's four models over it, each under the tester.
struct Models
{
    explicit Models(CaptureStore::Limits limits)
        : store(limits)
    {
        connectionFilter.setSourceModel(&connections);
        exchangeFilter.setSourceModel(&exchanges);
        for (QAbstractItemModel *model : std::initializer_list<QAbstractItemModel *>{
                 &connections, &connectionFilter, &exchanges, &exchangeFilter})
            testers.push_back(std::make_unique<QAbstractItemModelTester>(model));
    }

    CaptureStore store;
    ConnectionTableModel connections{&store};
    ConnectionFilterModel connectionFilter{&store};
    ExchangeTableModel exchanges{&store};
    ExchangeFilterModel exchangeFilter{&store};
    std::vector<std::unique_ptr<QAbstractItemModelTester>> testers;
};

} // namespace

class tst_CaptureModels : public QObject
{
    Q_OBJECT

private slots:
    void filterFollowsEvictions();
    void sortsByRealValues();

private:
    static ConnectionRecord record(quint64 id, bool closed = false);
    static HttpExchange exchange(quint64 connection, int sequence, const QByteArray &statusLine, qsizetype body = 0);
};

ConnectionRecord tst_CaptureModels::record(quint64 id, bool closed)
{
    ConnectionRecord r;
    r.id = id;
    r.client = QStringLiteral("127.0.0.1:%1").arg(40000 + id);
    r.upstream = QStringLiteral("127.0.0.1:80");
    r.state = closed ? ConnectionRecord::State::Closed : ConnectionRecord::State::Open;
    r.bytesDown = 1000 - id;
    return r;
}

HttpExchange tst_CaptureModels::exchange(quint64 connection, int sequence, const QByteArray &statusLine, qsizetype body)
{
    HttpExchange x;
    x.connectionId = connection;
    x.sequence = sequence;
    x.request = HttpHeadParser::parse("GET /x HTTP/1.1\r\nHost: a\r\n\r\n", HttpHead::Kind::Request, 100, false);
    x.response = HttpHeadParser::parse(statusLine + "\r\n\r\n", HttpHead::Kind::Response, 100, false);
    x.responseBody = QByteArray(body, 'b');
    x.responseBodyBytes = quint64(body);
    return x;
}

void tst_CaptureModels::filterFollowsEvictions()
{
    CaptureStore::Limits limits;
    limits.maxBytes = 64 * 1024;
    Models models(limits);
    CaptureStore &store = models.store;
    ConnectionFilterModel &connectionFilter = models.connectionFilter;
    ExchangeFilterModel &exchangeFilter = models.exchangeFilter;
    const CaptureFilter filter = CaptureFilter::parse(QStringLiteral("status:404"));
    connectionFilter.setFilter(filter);
    exchangeFilter.setFilter(filter);

    store.add({record(1), record(2), record(3)}, {});
    QCOMPARE(connectionFilter.rowCount(), 0);
    // Connection 1's big exchanges push the oldest out, batch after batch.
    for (int sequence = 1; sequence <= 20; ++sequence)
        store.add({}, {exchange(1, sequence, "HTTP/1.1 200 OK", 10'000)});
    QVERIFY(store.stats().evictedExchanges > 0);
    store.add({}, {exchange(3, 1, "HTTP/1.1 404 Not Found")});
    QCOMPARE(connectionFilter.rowCount(), 1);
    QCOMPARE(connectionFilter.index(0, ConnectionTableModel::Id).data().toString(), QStringLiteral("3"));
    QCOMPARE(exchangeFilter.rowCount(), 1);

    store.add({}, {exchange(2, 1, "HTTP/1.1 404 Not Found")});
    QCOMPARE(connectionFilter.rowCount(), 2);
    connectionFilter.setFilter(CaptureFilter());
    QCOMPARE(connectionFilter.rowCount(), 3);
    store.clear();
    QCOMPARE(connectionFilter.rowCount(), 0);
    QCOMPARE(exchangeFilter.rowCount(), 0);
}

void tst_CaptureModels::sortsByRealValues()
{
    Models models{CaptureStore::Limits()};
    CaptureStore &store = models.store;
    ConnectionFilterModel &connectionFilter = models.connectionFilter;
    ExchangeFilterModel &exchangeFilter = models.exchangeFilter;
    ConnectionRecord big = record(1);
    big.bytesDown = 2 * 1024 * 1024; // "2.00 MiB" sorts after "900 B" only as a number
    ConnectionRecord small = record(2);
    small.bytesDown = 900;
    store.add({big, small}, {exchange(1, 1, "HTTP/1.1 500 Oops"), exchange(2, 1, "HTTP/1.1 304 Not Modified"),
                             exchange(2, 2, "HTTP/1.1 204 No Content")});
    connectionFilter.sort(ConnectionTableModel::BytesDown, Qt::AscendingOrder);
    QCOMPARE(connectionFilter.index(0, ConnectionTableModel::Id).data().toString(), QStringLiteral("2"));
    connectionFilter.sort(ConnectionTableModel::BytesDown, Qt::DescendingOrder);
    QCOMPARE(connectionFilter.index(0, ConnectionTableModel::Id).data().toString(), QStringLiteral("1"));
    exchangeFilter.sort(ExchangeTableModel::Status, Qt::AscendingOrder);
    QCOMPARE(exchangeFilter.index(0, ExchangeTableModel::Status).data().toString(), QStringLiteral("204 No Content"));
    QCOMPARE(exchangeFilter.index(2, ExchangeTableModel::Status).data().toString(), QStringLiteral("500 Oops"));
}

QTEST_MAIN(tst_CaptureModels)
#include "tst_capturemodels.moc"
