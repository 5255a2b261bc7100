// The connection-life views in the real window (offscreen): the lifecycle
// strip of a scripted connection, the row's compact end and sparkline, the
// detail pane's rate graph while a transfer runs.

#include "connectionlifeview.h"
#include "connectiontablemodel.h"
#include "conversationview.h"
#include "exchangedetailview.h"
#include "lifecyclestrip.h"
#include "loopback.h"
#include "mainwindow.h"
#include "windowdriver.h"
#include "monotonicclock.h"
#include "proxyserver.h"
#include "rategraph.h"
#include "waterfalldelegate.h"

#include <QAbstractItemModel>
#include <QCoreApplication>
#include <QDateTime>
#include <QComboBox>
#include <QImage>
#include <QLineEdit>
#include <QSettings>
#include <QTableView>
#include <QTemporaryDir>
#include <QFile>
#include <QTest>
#include <QThread>

#include <atomic>
#include <future>

#include <sys/socket.h>

using namespace Loopback;
using Kind = TimelineMark::Kind;
using Lane = TimelineMark::Lane;

namespace {

// Pixels of the down colour (blue) in an image, from row fromY on.
int downColouredPixels(const QImage &pixels, int fromY = 0)
{
    int blue = 0;
    for (int y = fromY; y < pixels.height(); ++y) {
        for (int x = 0; x < pixels.width(); ++x) {
            const QColor colour = pixels.pixelColor(x, y);
            if (colour.blue() > colour.red() + 40 && colour.blue() > 120)
                ++blue;
        }
    }
    return blue;
}

} // namespace

class tst_ConnectionLife : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void init();
    void stripShowsTheMarksOfAScriptedConnection();
    void sparklineAndGraphMoveDuringATransfer();
    void waterfallFollowsTheFilter();
    void conversationFramesADelimitedStream();
    void exchangeTimingSaysWhatItsConnectionSpent();

private:
    // Shows the window at size and starts it forwarding to the upstream.
    static void openOn(MainWindow &window, QSize size, quint16 upstreamPort);
    // Selects the connection's row and shows its Life tab.
    static void selectConnection(MainWindow &window, quint64 id);
    static QTableView *connectionsView(MainWindow &window);

    QTemporaryDir m_config;
};

void tst_ConnectionLife::initTestCase()
{
    QVERIFY(m_config.isValid());
    qputenv("XDG_CONFIG_HOME", m_config.path().toLocal8Bit());
    QCoreApplication::setOrganizationName(QStringLiteral("proxymon-test"));
    QCoreApplication::setApplicationName(QStringLiteral("proxymon-test-life"));
}

void tst_ConnectionLife::init()
{
    QSettings().clear();
}

QTableView *tst_ConnectionLife::connectionsView(MainWindow &window)
{
    return window.findChild<QTableView *>(QStringLiteral("connectionsView"));
}

void tst_ConnectionLife::openOn(MainWindow &window, QSize size, quint16 upstreamPort)
{
    window.resize(size);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    WindowDriver::startOn(window, upstreamPort);
}

void tst_ConnectionLife::selectConnection(MainWindow &window, quint64 id)
{
    QTableView *view = connectionsView(window);
    const QAbstractItemModel *model = view->model();
    for (int row = 0; row < model->rowCount(); ++row) {
        const QModelIndex index = model->index(row, 0);
        if (index.data(ConnectionTableModel::IdRole).toULongLong() == id) {
            view->setCurrentIndex(index);
            break;
        }
    }
    auto *detail = window.findChild<ExchangeDetailView *>(QStringLiteral("detailView"));
    detail->setCurrentWidget(detail->lifeView());
}

void tst_ConnectionLife::stripShowsTheMarksOfAScriptedConnection()
{
    // The lab's client: a line, FIN at 200 ms, read to the end; the
    // upstream answers at 300 ms and closes at 400 ms.
    std::atomic<qint64> connected{0};
    ScriptedServer upstream([&](Socket &connection, int) {
        const qint64 accepted = MonotonicClock::nowUs();
        readExactly(connection.fd(), 5);
        QThread::usleep(300'000 - (MonotonicClock::nowUs() - accepted));
        sendAll(connection.fd(), "pong\n");
        readUntilEof(connection.fd());
        QThread::usleep(qMax<qint64>(0, 400'000 - (MonotonicClock::nowUs() - accepted)));
    });
    MainWindow window{ProxyConfig()};
    openOn(window, QSize(1200, 800), upstream.port());
    if (QTest::currentTestFailed())
        return;
    const QByteArray answer = offThread([&] {
        Socket client = connectTo("127.0.0.1", window.server()->listenPort());
        connected = MonotonicClock::nowUs();
        sendAll(client.fd(), "ping\n");
        QThread::usleep(200'000);
        client.shutdownWrite();
        return readUntilEof(client.fd());
    });
    QCOMPARE(answer, QByteArray("pong\n"));
    QTRY_VERIFY(window.store()->connectionCount() == 1 && window.store()->connectionAt(0).isClosed());
    const ConnectionRecord record = window.store()->connectionAt(0);

    // The row says it in short: the client's FIN passed on, the upstream
    // went on about 100 ms, then its FIN, passed on too.
    QTableView *view = connectionsView(window);
    const QString ends = view->model()->index(0, ConnectionTableModel::Life).data().toString();
    QVERIFY2(ends.startsWith(QStringLiteral("C FIN→ · U +")) && ends.endsWith(QStringLiteral(" · U FIN→")), qPrintable(ends));

    selectConnection(window, record.id);
    auto *detail = window.findChild<ExchangeDetailView *>(QStringLiteral("detailView"));
    ConnectionLifeView *life = detail->lifeView();
    QTRY_COMPARE(life->shownId(), record.id);
    QVERIFY(life->isVisible());
    LifecycleStrip *strip = life->strip();
    const QList<LifecycleStrip::ShownMark> &shown = strip->shownMarks();
    QCOMPARE(shown.size(), record.timeline.marks.size());
    const auto find = [&](Kind kind, Lane lane) -> const LifecycleStrip::ShownMark * {
        for (const LifecycleStrip::ShownMark &item : shown) {
            if (item.mark.kind == kind && item.mark.lane == lane)
                return &item;
        }
        return nullptr;
    };
    const LifecycleStrip::ShownMark *accepted = find(Kind::Accepted, Lane::Client);
    const LifecycleStrip::ShownMark *clientFin = find(Kind::Fin, Lane::Client);
    const LifecycleStrip::ShownMark *finPassed = find(Kind::FinSent, Lane::Upstream);
    const LifecycleStrip::ShownMark *answered = find(Kind::FirstByte, Lane::Upstream);
    const LifecycleStrip::ShownMark *upstreamFin = find(Kind::Fin, Lane::Upstream);
    const LifecycleStrip::ShownMark *closed = find(Kind::Closed, Lane::Connection);
    QVERIFY(accepted && clientFin && finPassed && answered && upstreamFin && closed);
    // On their lanes, in time order along the axis, at the times they
    // happened: 200 ms is half of the 400 ms life.
    QCOMPARE(clientFin->at.y(), strip->laneY(Lane::Client));
    QCOMPARE(finPassed->at.y(), strip->laneY(Lane::Upstream));
    QVERIFY(accepted->at.x() < clientFin->at.x() && clientFin->at.x() < answered->at.x());
    QVERIFY(answered->at.x() < upstreamFin->at.x() && upstreamFin->at.x() <= closed->at.x());
    const qreal axis = strip->xOf(record.timeline.sampledUs) - strip->xOf(0);
    QVERIFY(axis > 300);
    const qreal fraction = (clientFin->at.x() - strip->xOf(0)) / axis;
    QVERIFY2(qAbs(fraction - 0.5) < 0.06, qPrintable(QString::number(fraction)));
    // Hovering the client's FIN names it with its exact time.
    const QString tip = strip->toolTipAt(clientFin->at.toPoint());
    QVERIFY2(tip.contains(QStringLiteral("the client sent FIN at %1 ms").arg(double(clientFin->mark.atUs) / 1000, 0, 'f', 3)),
             qPrintable(tip));
    QVERIFY(strip->toolTipAt(closed->at.toPoint()).contains(QLatin1String("closed (client_fin)")));

    // Drawn, not only laid out: the FIN's mark is in the strip's pixels.
    const QImage image = strip->grab().toImage();
    const QPoint finPixel(qRound(clientFin->at.x()), qRound(clientFin->at.y()));
    QVERIFY(image.pixelColor(finPixel) != strip->palette().color(QPalette::Base));

    // Where the time went: the upstream's 300 ms before its first byte.
    const QString text = detail->tabText(ExchangeDetailView::LifeTab);
    QVERIFY2(text.contains(QLatin1String("client's first byte to upstream's: ")), qPrintable(text));
    QVERIFY(text.contains(QLatin1String("upstream connect: ")));
}

void tst_ConnectionLife::sparklineAndGraphMoveDuringATransfer()
{
    // 100,000 bytes every 100 ms for 3 s.
    std::atomic<bool> stop{false};
    ScriptedServer upstream([&](Socket &connection, int) {
        const QByteArray piece = randomBytes(100'000, 5);
        for (int i = 0; i < 30 && !stop; ++i) {
            if (!sendAll(connection.fd(), piece))
                return;
            QThread::msleep(100);
        }
    });
    MainWindow window{ProxyConfig()};
    openOn(window, QSize(1400, 800), upstream.port());
    if (QTest::currentTestFailed())
        return;
    std::atomic<qint64> received{0};
    auto reader = std::async(std::launch::async, [&] {
        Socket client = connectTo("127.0.0.1", window.server()->listenPort());
        char buffer[65536];
        for (;;) {
            const ssize_t n = ::recv(client.fd(), buffer, sizeof buffer, 0);
            if (n <= 0)
                return;
            received += n;
        }
    });
    QTRY_VERIFY(window.store()->connectionCount() == 1);
    const quint64 id = window.store()->connectionAt(0).id;
    selectConnection(window, id);
    QTableView *view = connectionsView(window);
    const QModelIndex cell = view->model()->index(0, ConnectionTableModel::Activity);
    const auto activity = [&] { return cell.data(ConnectionTableModel::ActivityRole).value<QList<float>>(); };
    const auto downBins = [](const QList<float> &values) {
        int moving = 0;
        for (qsizetype i = values.size() / 2; i < values.size(); ++i)
            moving += values[i] > 0;
        return moving;
    };
    // Live: the sparkline moves as the bytes come, and says they come
    // down, not up.
    QTRY_VERIFY_WITH_TIMEOUT(received > 500'000, 10'000);
    const QList<float> early = activity();
    QCOMPARE(early.size(), 2 * ConnectionTableModel::ActivityBins);
    QVERIFY(downBins(early) > 0);
    QTRY_VERIFY_WITH_TIMEOUT(received > 1'500'000, 10'000);
    QTRY_VERIFY_WITH_TIMEOUT(activity() != early && downBins(activity()) > 0, 5'000);
    for (qsizetype i = 0; i < ConnectionTableModel::ActivityBins; ++i)
        QCOMPARE(activity().at(i), 0.0f);
    QVERIFY(!window.store()->connectionAt(0).isClosed());
    // The cell shows it: the down colour among its pixels (the row not
    // selected, so that no highlight is taken for it).
    view->selectionModel()->clearSelection();
    QTest::qWait(50);
    const QRect rect = view->visualRect(view->model()->index(0, ConnectionTableModel::Activity));
    QVERIFY(rect.width() > 20);
    const int blue = downColouredPixels(view->viewport()->grab(rect).toImage());
    QVERIFY2(blue > 10, qPrintable(QString::number(blue)));
    // The detail pane's graph over the whole life: about 1 MB/s down, no
    // bytes up.
    auto *detail = window.findChild<ExchangeDetailView *>(QStringLiteral("detailView"));
    RateGraph *graph = detail->lifeView()->graph();
    QTRY_VERIFY(!graph->shownRates(1).isEmpty());
    float top = 0;
    for (const float rate : graph->shownRates(1))
        top = qMax(top, rate);
    QVERIFY2(top > 300'000, qPrintable(QString::number(top)));
    for (const float rate : graph->shownRates(0))
        QCOMPARE(rate, 0.0f);
    // And draws it: the down colour fills part of the plot (below the
    // legend, which is written in the same colour).
    const int graphBlue = downColouredPixels(graph->grab().toImage(), 20);
    QVERIFY2(graphBlue > 100, qPrintable(QString::number(graphBlue)));
    stop = true;
    window.stopProxy();
    reader.wait();
}

void tst_ConnectionLife::waterfallFollowsTheFilter()
{
    // Three connections, a while apart: one that ends cleanly, one the
    // client resets, one still open.
    ScriptedServer upstream([&](Socket &connection, int) {
        const QByteArray line = readExactly(connection.fd(), 4);
        sendAll(connection.fd(), line);
        readUntilEof(connection.fd());
    });
    MainWindow window{ProxyConfig()};
    openOn(window, QSize(1600, 800), upstream.port());
    if (QTest::currentTestFailed())
        return;
    const quint16 port = window.server()->listenPort();
    offThread([&] {
        Socket first = connectTo("127.0.0.1", port);
        sendAll(first.fd(), "one\n");
        readExactly(first.fd(), 4);
        first.shutdownWrite();
        readUntilEof(first.fd());
    });
    QTest::qWait(300);
    offThread([&] {
        Socket second = connectTo("127.0.0.1", port);
        sendAll(second.fd(), "two\n");
        readExactly(second.fd(), 4);
        QThread::msleep(100);
        second.reset();
    });
    QTest::qWait(300);
    Socket third = offThread([&] {
        Socket socket = connectTo("127.0.0.1", port);
        sendAll(socket.fd(), "3rd\n");
        readExactly(socket.fd(), 4);
        return socket;
    });
    CaptureStore *store = window.store();
    QTRY_VERIFY(store->connectionCount() == 3 && store->connectionAt(1).isClosed() && store->connectionAt(0).isClosed());

    QTableView *view = connectionsView(window);
    auto *waterfall = qobject_cast<WaterfallDelegate *>(view->itemDelegateForColumn(ConnectionTableModel::Waterfall));
    QVERIFY(waterfall);
    view->scrollTo(view->model()->index(0, ConnectionTableModel::Waterfall));
    const auto barOf = [&](int row) {
        const QModelIndex index = view->model()->index(row, ConnectionTableModel::Waterfall);
        return waterfall->barRect(index, view->visualRect(index));
    };
    // One axis for all: from the first one's start to now (one is live).
    QCOMPARE(waterfall->axis().firstMs, store->connectionAt(0).openedMs);
    QVERIFY(waterfall->axis().lastMs >= QDateTime::currentMSecsSinceEpoch() - 1000);
    QVERIFY(barOf(0).left() < barOf(1).left() && barOf(1).left() < barOf(2).left());
    QVERIFY(barOf(0).right() < barOf(2).right());
    const QRect cell = view->visualRect(view->model()->index(2, ConnectionTableModel::Waterfall));
    QVERIFY(cell.width() > 100);
    QVERIFY(barOf(2).right() > cell.right() - 10); // the live one runs to now

    // The filter: only the reset one, and the axis is its life alone.
    window.findChild<QLineEdit *>(QStringLiteral("filterEdit"))->setText(QStringLiteral("state:reset"));
    QTRY_COMPARE(view->model()->rowCount(), 1);
    const ConnectionRecord &reset = store->connectionAt(1);
    QCOMPARE(view->model()->index(0, 0).data(ConnectionTableModel::IdRole).toULongLong(), reset.id);
    QCOMPARE(waterfall->axis().firstMs, reset.openedMs);
    const QRect only = view->visualRect(view->model()->index(0, ConnectionTableModel::Waterfall));
    QVERIFY(qAbs(barOf(0).left() - (only.left() + 3)) < 2);
    QVERIFY(qAbs(barOf(0).right() - (only.right() - 3)) < 3);
    // Painted: its life as a line across the cell, and its phases (here
    // a fraction of a millisecond at the start) in their colours.
    view->selectionModel()->clearSelection();
    QTest::qWait(50);
    const QImage pixels = view->viewport()->grab(only).toImage();
    QList<QColor> phases;
    for (const auto phase : {TimeBreakdown::Phase::Connect, TimeBreakdown::Phase::Wait, TimeBreakdown::Phase::Receive})
        phases.append(WaterfallDelegate::colourOf(phase));
    int seen = 0;
    int lifeLine = 0;
    const QColor mid = view->palette().color(QPalette::Mid);
    for (int y = 0; y < pixels.height(); ++y) {
        for (int x = 0; x < pixels.width(); ++x) {
            seen += phases.contains(pixels.pixelColor(x, y));
            lifeLine += pixels.pixel(x, y) == mid.rgb();
        }
    }
    QVERIFY2(lifeLine > only.width() / 2, qPrintable(QString::number(lifeLine)));
    QVERIFY2(seen > 0, "no phase drawn");
    // Selecting the row shows that connection's life.
    selectConnection(window, reset.id);
    auto *detail = window.findChild<ExchangeDetailView *>(QStringLiteral("detailView"));
    QTRY_COMPARE(detail->lifeView()->shownId(), reset.id);
    third.close();
}

void tst_ConnectionLife::conversationFramesADelimitedStream()
{
    // A Redis-like session: two commands in one write, the answers in two
    // writes a moment apart, then one more command.
    ScriptedServer upstream([&](Socket &connection, int) {
        readExactly(connection.fd(), 16);
        sendAll(connection.fd(), "+OK\r\n");
        QThread::msleep(60);
        sendAll(connection.fd(), "$1\r\n1\r\n");
        readUntilEof(connection.fd());
    });
    MainWindow window{ProxyConfig()};
    openOn(window, QSize(1400, 800), upstream.port());
    if (QTest::currentTestFailed())
        return;
    offThread([&] {
        Socket client = connectTo("127.0.0.1", window.server()->listenPort());
        sendAll(client.fd(), "SET a 1\r\nGET a\r\n");
        readExactly(client.fd(), 12);
        QThread::msleep(60);
        sendAll(client.fd(), "QUIT\r\n");
        client.shutdownWrite();
        readUntilEof(client.fd());
    });
    QTRY_VERIFY(window.store()->connectionCount() == 1 && window.store()->connectionAt(0).isClosed());
    const ConnectionRecord record = window.store()->connectionAt(0);
    QVERIFY(record.raw);
    selectConnection(window, record.id);
    auto *detail = window.findChild<ExchangeDetailView *>(QStringLiteral("detailView"));
    ConversationView *conversation = detail->conversationView();
    detail->setCurrentWidget(conversation);
    QTRY_COMPARE(conversation->shownId(), record.id);

    using Blocks = QList<QPair<bool, QByteArray>>;
    const auto blocks = [&] {
        Blocks result;
        for (const ConversationFramer::Message &message : conversation->messages())
            result.append({message.fromClient, message.bytes});
        return result;
    };
    // By read: as the bytes crossed.
    QVERIFY(conversation->setFraming(QStringLiteral("read")));
    QCOMPARE(blocks(), (Blocks{{true, "SET a 1\r\nGET a\r\n"}, {false, "+OK\r\n"}, {false, "$1\r\n1\r\n"}, {true, "QUIT\r\n"}}));
    // By CRLF, chosen from the presets as a user would.
    auto *preset = conversation->findChild<QComboBox *>(QStringLiteral("conversationPreset"));
    const int crlf = preset->findData(QStringLiteral("crlf"));
    QVERIFY(crlf >= 0);
    preset->setCurrentIndex(crlf);
    emit preset->activated(crlf);
    QCOMPARE(blocks(), (Blocks{{true, "SET a 1\r\n"}, {true, "GET a\r\n"}, {false, "+OK\r\n"}, {false, "$1\r\n"},
                               {false, "1\r\n"}, {true, "QUIT\r\n"}}));
    for (const ConversationFramer::Message &message : conversation->messages())
        QVERIFY(!message.incomplete);
    // Times follow the reads: the second answer came about 60 ms after the first.
    const QList<ConversationFramer::Message> &messages = conversation->messages();
    QVERIFY(messages[3].atUs - messages[2].atUs >= 40'000);
    // What the user reads and what the export writes.
    const QString text = detail->tabText(ExchangeDetailView::ConversationTab);
    QCOMPARE(text.count(QStringLiteral("▶ client")), 3);
    QCOMPARE(text.count(QStringLiteral("◀ upstream")), 3);
    QVERIFY(text.indexOf(QLatin1String("GET a")) < text.indexOf(QLatin1String("+OK")));
    QVERIFY(text.indexOf(QLatin1String("+OK")) < text.indexOf(QLatin1String("QUIT")));
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("conversation.txt"));
    QString error;
    QVERIFY2(conversation->saveTo(path, &error), qPrintable(error));
    QFile saved(path);
    QVERIFY(saved.open(QIODevice::ReadOnly));
    QCOMPARE(QString::fromUtf8(saved.readAll()), text);
    // A framing that is not one says why and leaves the view as it was.
    QVERIFY(!conversation->setFraming(QStringLiteral("length:3")));
    QCOMPARE(conversation->messages().size(), 6);
}

void tst_ConnectionLife::exchangeTimingSaysWhatItsConnectionSpent()
{
    ScriptedServer upstream([&](Socket &connection, int) {
        QByteArray request;
        char buffer[4096];
        while (!request.contains("\r\n\r\n")) {
            const ssize_t n = ::recv(connection.fd(), buffer, sizeof buffer, 0);
            if (n <= 0)
                return;
            request.append(buffer, n);
        }
        QThread::msleep(50);
        sendAll(connection.fd(), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        readUntilEof(connection.fd());
    });
    MainWindow window{ProxyConfig()};
    openOn(window, QSize(1400, 800), upstream.port());
    if (QTest::currentTestFailed())
        return;
    offThread([&] {
        Socket client = connectTo("127.0.0.1", window.server()->listenPort());
        sendAll(client.fd(), "GET /x HTTP/1.1\r\nHost: lab.test\r\n\r\n");
        readExactly(client.fd(), 43);
    });
    QTRY_VERIFY(window.store()->exchangeCount() == 1);
    QTRY_VERIFY(window.store()->connectionCount() == 1);
    selectConnection(window, window.store()->connectionAt(0).id);
    auto *detail = window.findChild<ExchangeDetailView *>(QStringLiteral("detailView"));
    QTRY_VERIFY(detail->tabText(ExchangeDetailView::TimingTab).contains(QLatin1String("On its connection (1):")));
    const QString timing = detail->tabText(ExchangeDetailView::TimingTab);
    QVERIFY2(timing.contains(QLatin1String("Waiting for the server: ")), qPrintable(timing));
    QVERIFY(timing.contains(QLatin1String("  upstream connect: ")));
    QVERIFY(timing.contains(QStringLiteral("  held in proxymon during it, up (upstream slow to take): 0 µs")));
}

QTEST_MAIN(tst_ConnectionLife)
#include "tst_connectionlife.moc"
