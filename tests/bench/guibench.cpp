// The window under load, for bench.sh (not a test).
//
//   proxymon_guibench load TARGET_PORT SECONDS
//       Opens the real window (use QT_QPA_PLATFORM=offscreen), starts it
//       forwarding to 127.0.0.1:TARGET_PORT, prints its port, and while the
//       caller puts load through it, watches the GUI thread with a 5 ms
//       heartbeat. Then prints: longest stall in ms, stalls over 50 ms,
//       batches the views took per second, rows and exchanges held.
//   proxymon_guibench live TARGET_PORT SECONDS
//       The same with the window wide enough for the sparkline and waterfall
//       columns, the first connection selected with its Life tab showing,
//       for many live connections that all keep updating (benchtool
//       trickle). Prints the stall figures and the most live rows held.
//   With GUIBENCH_TRACE set, each stall over 50 ms is also written to
//   stderr with the deliveries (receiver class / event type) that took it.
//   proxymon_guibench scale
//       Fills the window's store with 10,000 connections and 100,000
//       exchanges, then times sorting and filtering both lists, and saving
//       them as a session and as HAR and opening the session again, with
//       the longest GUI stall during each.
#include "capturestore.h"
#include "connectiontablemodel.h"
#include "exchangedetailview.h"
#include "httpheadparser.h"
#include "capturefiles.h"
#include "mainwindow.h"
#include "proxyserver.h"

#include <QAction>
#include <QApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QLineEdit>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>

#include <cstdio>
#include <ctime>
#include <tuple>

namespace {

// With GUIBENCH_TRACE set, what the GUI thread delivered since the last
// heartbeat, timed per receiver class and event type, in wall time and in
// the thread's own CPU time: a stall then names what took it, and whether
// it was work or waiting for a core.
class TracingApplication : public QApplication
{
public:
    using QApplication::QApplication;

    bool notify(QObject *receiver, QEvent *event) override
    {
        if (!m_tracing || m_depth > 0)
            return QApplication::notify(receiver, event);
        ++m_depth;
        QElapsedTimer clock;
        clock.start();
        const qint64 cpuBefore = threadCpuNs();
        const QByteArray key = QByteArray(receiver->metaObject()->className()) + '/' + QByteArray::number(int(event->type()));
        const bool result = QApplication::notify(receiver, event);
        Spent &spent = m_spent[key];
        spent.wallNs += clock.nsecsElapsed();
        spent.cpuNs += threadCpuNs() - cpuBefore;
        --m_depth;
        return result;
    }
    void setTracing(bool tracing) { m_tracing = tracing; }
    // The costliest deliveries since the last call, and forgets them.
    QByteArray takeReport()
    {
        QList<std::tuple<qint64, qint64, QByteArray>> costs;
        for (auto it = m_spent.cbegin(); it != m_spent.cend(); ++it)
            costs.append({it.value().wallNs, it.value().cpuNs, it.key()});
        std::sort(costs.begin(), costs.end(), std::greater<>());
        QByteArray report;
        for (qsizetype i = 0; i < qMin<qsizetype>(4, costs.size()); ++i) {
            const auto &[wallNs, cpuNs, key] = costs[i];
            report += key + ' ' + QByteArray::number(wallNs / 1'000'000) + " ms (CPU "
                + QByteArray::number(cpuNs / 1'000'000) + "); ";
        }
        m_spent.clear();
        return report;
    }

private:
    struct Spent
    {
        qint64 wallNs = 0;
        qint64 cpuNs = 0;
    };
    static qint64 threadCpuNs()
    {
        timespec now{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
        return qint64(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
    }

    bool m_tracing = false;
    int m_depth = 0;
    QHash<QByteArray, Spent> m_spent;
};

// A 5 ms timer on the GUI thread: the longest gap between its beats is the
// longest the window stood still.
class Heartbeat
{
public:
    Heartbeat()
    {
        m_clock.start();
        m_timer.setTimerType(Qt::PreciseTimer);
        m_timer.setInterval(5);
        QObject::connect(&m_timer, &QTimer::timeout, [this] { beat(); });
        m_timer.start();
    }
    // Counts the time since the last beat too.
    qint64 worstMs()
    {
        beat();
        return m_worst;
    }
    int stallsOver50ms() const { return m_stalls; }
    qint64 elapsedMs() const { return m_clock.elapsed(); }

private:
    void beat()
    {
        const qint64 now = m_clock.elapsed();
        const qint64 gap = now - m_last - 5;
        m_last = now;
        m_worst = qMax(m_worst, gap);
        if (gap > 50) {
            ++m_stalls;
            if (qEnvironmentVariableIsSet("GUIBENCH_TRACE"))
                std::fprintf(stderr, "stall %lld ms at %lld ms: %s\n", gap, now,
                             static_cast<TracingApplication *>(qApp)->takeReport().constData());
        }
        if (qEnvironmentVariableIsSet("GUIBENCH_TRACE"))
            static_cast<TracingApplication *>(qApp)->takeReport();
    }

    QElapsedTimer m_clock;
    QTimer m_timer;
    qint64 m_last = 0;
    qint64 m_worst = 0;
    int m_stalls = 0;
};

// Lets the window lay itself out and paint once, so that its first show is
// not counted as a stall under load.
void settle()
{
    QEventLoop loop;
    QTimer::singleShot(300, &loop, &QEventLoop::quit);
    loop.exec();
}

// Starts the window forwarding to target and prints its port.
bool startForwarding(MainWindow &window, quint16 target)
{
    settle();
    window.setListenText(QStringLiteral("127.0.0.1:0"));
    window.setTargetText(QStringLiteral("127.0.0.1:%1").arg(target));
    window.startProxy();
    if (!window.isListening())
        return false;
    std::printf("%u\n", unsigned(window.server()->listenPort()));
    std::fflush(stdout);
    return true;
}

int load(MainWindow &window, quint16 target, int seconds)
{
    if (!startForwarding(window, target))
        return 1;

    qint64 batches = 0;
    QObject::connect(window.server(), &ProxyServer::published, &window,
                     [&batches](const QList<ConnectionRecord> &, const QList<HttpExchange> &) { ++batches; });
    Heartbeat heartbeat;
    QTimer::singleShot(seconds * 1000, qApp, &QCoreApplication::quit);
    QApplication::exec();
    const qint64 worst = heartbeat.worstMs();
    std::printf("stall_max_ms %lld stalls_over_50ms %d batches_per_s %.1f connections %lld exchanges %lld\n",
                worst, heartbeat.stallsOver50ms(), double(batches) * 1000.0 / double(heartbeat.elapsedMs()),
                qint64(window.store()->connectionCount()), qint64(window.store()->exchangeCount()));
    return 0;
}

int live(MainWindow &window, quint16 target, int seconds)
{
    window.resize(2600, 1000);
    if (!startForwarding(window, target))
        return 1;
    auto *view = window.findChild<QTableView *>(QStringLiteral("connectionsView"));
    auto *detail = window.findChild<ExchangeDetailView *>(QStringLiteral("detailView"));
    detail->setCurrentIndex(ExchangeDetailView::LifeTab);
    qint64 mostLive = 0;
    QTimer watch;
    QObject::connect(&watch, &QTimer::timeout, &window, [&] {
        // The first row selected once there is one: its strip and graph move too.
        if (!view->currentIndex().isValid() && view->model()->rowCount() > 0)
            view->setCurrentIndex(view->model()->index(0, 0));
        qint64 live = 0;
        for (qsizetype row = 0; row < window.store()->connectionCount(); ++row)
            live += !window.store()->connectionAt(row).isClosed();
        mostLive = qMax(mostLive, live);
    });
    watch.start(1000);
    Heartbeat heartbeat;
    QTimer::singleShot(seconds * 1000, qApp, &QCoreApplication::quit);
    QApplication::exec();
    const qint64 worst = heartbeat.worstMs();
    std::printf("stall_max_ms %lld stalls_over_50ms %d live_max %lld\n", worst, heartbeat.stallsOver50ms(), mostLive);
    return 0;
}

qint64 timed(const std::function<void()> &work)
{
    QElapsedTimer clock;
    clock.start();
    work();
    QApplication::processEvents();
    return clock.elapsed();
}

int scale(MainWindow &window)
{
    CaptureStore *store = window.store();
    const HttpHead request = HttpHeadParser::parse("GET /items?page=2 HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\r\n",
                                                   HttpHead::Kind::Request, 100, false);
    const HttpHead ok = HttpHeadParser::parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", HttpHead::Kind::Response, 100, false);
    const HttpHead missing = HttpHeadParser::parse("HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\n",
                                                   HttpHead::Kind::Response, 100, false);
    window.findChild<QAction *>(QStringLiteral("allExchanges"))->setChecked(true);
    const qint64 fillMs = timed([&] {
        quint64 id = 0;
        for (int batch = 0; batch < 100; ++batch) {
            QList<ConnectionRecord> records;
            QList<HttpExchange> exchanges;
            for (int i = 0; i < 100; ++i) {
                ConnectionRecord record;
                record.id = ++id;
                record.client = QStringLiteral("127.0.0.1:%1").arg(20000 + id % 40000);
                record.upstream = QStringLiteral("shop.example:80");
                record.state = ConnectionRecord::State::Closed;
                record.closeReason = ConnectionRecord::CloseReason::ClientFin;
                record.openedMs = 1'700'000'000'000 + qint64(id);
                record.closedMs = record.openedMs + qint64(id % 977);
                record.bytesUp = id * 37 % 100000;
                record.bytesDown = id * 7919 % 1000000;
                record.requests = 10;
                records.append(record);
                for (int sequence = 1; sequence <= 10; ++sequence) {
                    HttpExchange exchange;
                    exchange.connectionId = id;
                    exchange.sequence = sequence;
                    exchange.request = request;
                    exchange.response = (id + quint64(sequence)) % 50 == 0 ? missing : ok;
                    exchange.responseBodyBytes = 5;
                    exchange.complete = true;
                    exchanges.append(exchange);
                }
            }
            store->add(records, exchanges);
            QApplication::processEvents();
        }
    });
    auto *connections = window.findChild<QTableView *>(QStringLiteral("connectionsView"));
    auto *exchanges = window.findChild<QTableView *>(QStringLiteral("exchangesView"));
    auto *filter = window.findChild<QLineEdit *>(QStringLiteral("filterEdit"));
    const qint64 sortConnectionsMs = timed([&] { connections->sortByColumn(7, Qt::DescendingOrder); });
    const qint64 sortExchangesMs = timed([&] { exchanges->sortByColumn(4, Qt::DescendingOrder); });
    // The filter applies on its own timer; wait for it, then time the work.
    const auto filterMs = [&](const QString &text) {
        filter->setText(text);
        QElapsedTimer clock;
        clock.start();
        const int before = exchanges->model()->rowCount();
        qint64 worst = 0;
        qint64 last = 0;
        while (clock.elapsed() < 1000) {
            QApplication::processEvents(QEventLoop::AllEvents, 5);
            const qint64 now = clock.elapsed();
            worst = qMax(worst, now - last);
            last = now;
            if (exchanges->model()->rowCount() != before)
                break;
        }
        return worst;
    };
    const qint64 filterStatusMs = filterMs(QStringLiteral("status:404"));
    const int matched = exchanges->model()->rowCount();
    const qint64 filterClearMs = filterMs(QString());

    // Files of the whole capture, while a 5 ms heartbeat watches the GUI
    // thread: how long each takes, and the longest the window stood still.
    QTemporaryDir directory;
    const auto watched = [&](const std::function<bool()> &work, qint64 *stallMs) {
        Heartbeat heartbeat;
        const bool ok = work();
        *stallMs = heartbeat.worstMs();
        return ok ? heartbeat.elapsedMs() : -1;
    };
    const QString session = directory.filePath(QStringLiteral("session.jsonl"));
    qint64 sessionStallMs = 0, harStallMs = 0, openStallMs = 0;
    const qint64 sessionMs = watched([&] { return window.files()->write(session, QStringLiteral("session"), CaptureSelection()); }, &sessionStallMs);
    const qint64 harMs = watched([&] {
        return window.files()->write(directory.filePath(QStringLiteral("capture.har")), QStringLiteral("har"), CaptureSelection());
    }, &harStallMs);
    const qint64 openMs = watched([&] { return window.files()->open(session, false); }, &openStallMs);
    std::printf("fill_ms %lld sort_connections_ms %lld sort_exchanges_ms %lld filter_ms %lld filter_clear_ms %lld "
                "connections %lld exchanges %lld matched %d session_ms %lld session_stall_ms %lld har_ms %lld "
                "har_stall_ms %lld open_ms %lld open_stall_ms %lld\n",
                fillMs, sortConnectionsMs, sortExchangesMs, filterStatusMs, filterClearMs,
                qint64(store->connectionCount()), qint64(store->exchangeCount()), matched, sessionMs, sessionStallMs,
                harMs, harStallMs, openMs, openStallMs);
    return 0;
}

} // namespace

int main(int argc, char *argv[])
{
    TracingApplication app(argc, argv);
    app.setTracing(qEnvironmentVariableIsSet("GUIBENCH_TRACE"));
    QCoreApplication::setOrganizationName(QStringLiteral("proxymon-bench"));
    QCoreApplication::setApplicationName(QStringLiteral("proxymon-bench"));
    const QStringList args = QCoreApplication::arguments();
    MainWindow window{ProxyConfig()};
    window.resize(1200, 760);
    window.show();
    if (args.value(1) == u"load" && args.size() == 4)
        return load(window, quint16(args[2].toUInt()), args[3].toInt());
    if (args.value(1) == u"live" && args.size() == 4)
        return live(window, quint16(args[2].toUInt()), args[3].toInt());
    if (args.value(1) == u"scale")
        return scale(window);
    std::fprintf(stderr, "usage: proxymon_guibench load TARGET_PORT SECONDS | live TARGET_PORT SECONDS | scale\n");
    return 2;
}
