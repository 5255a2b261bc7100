// The actions on captured rows, driven in the real window (offscreen):
// copying, saving bodies, filtering by a row, closing a live connection,
// resending and editing a request, sessions saved and opened, HAR of the
// selection.

#include "captureactions.h"
#include "connectionfaultmenu.h"
#include "connectiontablemodel.h"
#include "exchangedetailview.h"
#include "exchangetablemodel.h"
#include "loopback.h"
#include "capturefiles.h"
#include "mainwindow.h"
#include "windowdriver.h"
#include "proxyserver.h"
#include "requestcomposer.h"
#include "throttledialog.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <sys/socket.h>

using namespace Loopback;

namespace {

const QByteArray JsonBody = "{\"compressed\":true,\"items\":[1,2,3]}";

// Reads one request (head and Content-Length body); "/gz" gets gzipped
// JSON, "/hold" no answer until the client goes, anything else its own
// request back as the body.
void serve(Socket &connection)
{
    QByteArray request;
    char buffer[16384];
    qsizetype end = -1;
    while ((end = request.indexOf("\r\n\r\n")) < 0) {
        const ssize_t n = ::recv(connection.fd(), buffer, sizeof buffer, 0);
        if (n <= 0)
            return;
        request.append(buffer, n);
    }
    qsizetype length = 0;
    for (const QByteArray &line : request.left(end).split('\n')) {
        if (line.toLower().startsWith("content-length:"))
            length = line.mid(15).trimmed().toLongLong();
    }
    while (request.size() < end + 4 + length) {
        const ssize_t n = ::recv(connection.fd(), buffer, sizeof buffer, 0);
        if (n <= 0)
            return;
        request.append(buffer, n);
    }
    if (request.startsWith("GET /hold ")) {
        readUntilEof(connection.fd());
        return;
    }
    QByteArray response;
    if (request.startsWith("GET /gz ")) {
        const QByteArray body = gzip(JsonBody);
        response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: "
            + QByteArray::number(body.size()) + "\r\n\r\n" + body;
    } else {
        response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + QByteArray::number(request.size())
            + "\r\n\r\n" + request;
    }
    sendAll(connection.fd(), response);
}

} // namespace

class tst_CaptureActions : public QObject
{
    Q_OBJECT
private slots:
    void initTestCase();
    void init();
    void copySaveAndFilterFromTheSelection();
    void contextMenusOfferTheActions();
    void closeEndsALiveConnection();
    void resendAndEditAndResend();
    void rowMenuBreaksALiveConnection();
    void throttleDialogReadsWhatIsTyped();
    void resendThroughTheHttpProxy();
    void sessionSavedOpenedAndRefused();

private:
    static QString banner(MainWindow &window);
    void startOn(MainWindow &window);
    // Selects exchange rows (all exchanges listed) and gives the list the focus.
    static void selectExchanges(MainWindow &window, const QList<int> &rows);
    static void trigger(MainWindow &window, const char *name);
    // The enabled items of the context menu opened on a list's first row.
    QStringList offeredOnFirstRow(QTableView *table);

    QTemporaryDir m_config;
    std::unique_ptr<ScriptedServer> m_web;
};

void tst_CaptureActions::initTestCase()
{
    WindowDriver::isolate(m_config, QStringLiteral("proxymon-test-actions"));
    m_web = std::make_unique<ScriptedServer>([](Socket &connection, int) { serve(connection); });
}

void tst_CaptureActions::init()
{
    QSettings().clear();
}

QString tst_CaptureActions::banner(MainWindow &window)
{
    return WindowDriver::label(window, "banner");
}

void tst_CaptureActions::startOn(MainWindow &window)
{
    WindowDriver::startOn(window, m_web->port());
}

void tst_CaptureActions::selectExchanges(MainWindow &window, const QList<int> &rows)
{
    window.findChild<QAction *>(QStringLiteral("allExchanges"))->setChecked(true);
    QTableView *exchanges = WindowDriver::view(window, "exchangesView");
    exchanges->setFocus();
    exchanges->clearSelection();
    for (const int row : rows)
        exchanges->selectionModel()->select(exchanges->model()->index(row, 0),
                                            QItemSelectionModel::Select | QItemSelectionModel::Rows);
}

void tst_CaptureActions::trigger(MainWindow &window, const char *name)
{
    QAction *action = window.actions()->action(name);
    QVERIFY2(action, name);
    QVERIFY2(action->isEnabled(), name);
    action->trigger();
}

QStringList tst_CaptureActions::offeredOnFirstRow(QTableView *table)
{
    QStringList offered;
    QTimer::singleShot(200, this, [&] {
        auto *menu = qobject_cast<QMenu *>(QApplication::activePopupWidget());
        if (!menu)
            return;
        for (QAction *action : menu->actions()) {
            if (action->isEnabled() && !action->isSeparator())
                offered.append(action->text());
        }
        menu->close();
    });
    const QRect row = table->visualRect(table->model()->index(0, 1));
    QContextMenuEvent event(QContextMenuEvent::Mouse, row.center(), table->viewport()->mapToGlobal(row.center()));
    QApplication::sendEvent(table->viewport(), &event);
    return offered;
}

void tst_CaptureActions::copySaveAndFilterFromTheSelection()
{
    MainWindow window{ProxyConfig()};
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    startOn(window);
    const quint16 port = window.server()->listenPort();
    askOnce(port, "GET /gz HTTP/1.1\r\nHost: shop.test\r\nAccept-Encoding: gzip\r\n\r\n");
    askOnce(port, "POST /echo?x=1 HTTP/1.1\r\nHost: api.test\r\nContent-Length: 5\r\n\r\nhello");
    QTRY_COMPARE(window.store()->exchangeCount(), 2);

    selectExchanges(window, {0});
    trigger(window, "copyUrl");
    QCOMPARE(QApplication::clipboard()->text(), QStringLiteral("http://shop.test/gz"));
    trigger(window, "copyCurl");
    const QString curl = QApplication::clipboard()->text();
    QVERIFY2(curl.startsWith(QLatin1String("curl ")) && curl.contains(QLatin1String("'http://shop.test/gz'")),
             qPrintable(curl));
    QVERIFY(curl.contains(QLatin1String("--header 'Accept-Encoding: gzip'")));
    trigger(window, "copyCurlConvenient");
    QVERIFY(QApplication::clipboard()->text().contains(QLatin1String("--compressed")));
    trigger(window, "copyResponseHead");
    QVERIFY(QApplication::clipboard()->text().startsWith(QLatin1String("HTTP/1.1 200 OK\nContent-Type: application/json")));
    trigger(window, "copyRequestHead");
    QVERIFY(QApplication::clipboard()->text().startsWith(QLatin1String("GET /gz HTTP/1.1\nHost: shop.test")));
    trigger(window, "copyResponseBody");
    QCOMPARE(QApplication::clipboard()->text(), QString::fromUtf8(JsonBody));

    // Bodies saved decoded, or as they came.
    const QList<HttpExchange> selected = window.actions()->selectedExchanges();
    QCOMPARE(selected.size(), 1);
    QTemporaryDir dir;
    QString error, note;
    const QString decoded = dir.filePath(QStringLiteral("body.json"));
    const QString raw = dir.filePath(QStringLiteral("body.gz"));
    QVERIFY(CaptureActions::saveBody(selected.first(), CaptureActions::Part::ResponseBody, false, decoded, &error, &note));
    QVERIFY(CaptureActions::saveBody(selected.first(), CaptureActions::Part::ResponseBody, true, raw, &error, &note));
    QFile decodedFile(decoded), rawFile(raw);
    QVERIFY(decodedFile.open(QIODevice::ReadOnly) && rawFile.open(QIODevice::ReadOnly));
    QCOMPARE(decodedFile.readAll(), JsonBody);
    QCOMPARE(rawFile.readAll(), gzip(JsonBody));
    QVERIFY(!CaptureActions::saveBody(selected.first(), CaptureActions::Part::ResponseBody, false,
                                      dir.filePath(QStringLiteral("no/such/dir/x")), &error, &note));
    QVERIFY(error.startsWith(QLatin1String("Could not save to ")));
    // The request has no body: nothing to save.
    QVERIFY(!window.actions()->action("saveRequestBody")->isEnabled());

    // Two rows: one URL each, in list order.
    selectExchanges(window, {0, 1});
    trigger(window, "copyUrl");
    QCOMPARE(QApplication::clipboard()->text(), QStringLiteral("http://shop.test/gz\nhttp://api.test/echo?x=1"));
    QVERIFY(!window.actions()->action("copyResponseBody")->isEnabled()); // one body at a time

    selectExchanges(window, {1});
    trigger(window, "filterByHost");
    QCOMPARE(window.findChild<QLineEdit *>(QStringLiteral("filterEdit"))->text(), QStringLiteral("host:api.test"));
    QTRY_COMPARE(WindowDriver::view(window, "exchangesView")->model()->rowCount(), 1);
    QTRY_COMPARE(WindowDriver::view(window, "connectionsView")->model()->rowCount(), 1);
    trigger(window, "filterByClient");
    QCOMPARE(window.findChild<QLineEdit *>(QStringLiteral("filterEdit"))->text(), QStringLiteral("client:127.0.0.1"));
    QTRY_COMPARE(WindowDriver::view(window, "connectionsView")->model()->rowCount(), 2);

    // The selection as HAR: one entry.
    selectExchanges(window, {1});
    const QString har = dir.filePath(QStringLiteral("selected.har"));
    QVERIFY(window.files()->write(har, QStringLiteral("har"), window.actions()->selection()));
    QFile harFile(har);
    QVERIFY(harFile.open(QIODevice::ReadOnly));
    const QJsonArray entries = QJsonDocument::fromJson(harFile.readAll())["log"]["entries"].toArray();
    QCOMPARE(entries.size(), 1);
    QCOMPARE(entries.first()["request"]["url"].toString(), QStringLiteral("http://api.test/echo?x=1"));
    QCOMPARE(entries.first()["request"]["postData"]["text"].toString(), QStringLiteral("hello"));
}

void tst_CaptureActions::contextMenusOfferTheActions()
{
    MainWindow window{ProxyConfig()};
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    startOn(window);
    askOnce(window.server()->listenPort(), "GET /gz HTTP/1.1\r\nHost: shop.test\r\n\r\n");
    QTRY_COMPARE(window.store()->exchangeCount(), 1);
    selectExchanges(window, {0});
    for (const char *name : {"exchangesView", "connectionsView"}) {
        QTableView *table = WindowDriver::view(window, name);
        table->selectRow(0);
        const QStringList offered = offeredOnFirstRow(table);
        QVERIFY2(offered.contains(QStringLiteral("Copy as curl")), qPrintable(offered.join(u'|')));
        QVERIFY(offered.contains(QStringLiteral("Copy URL")));
        QVERIFY(offered.contains(QStringLiteral("Resend")));
        QVERIFY(offered.contains(QStringLiteral("Export selected")));
        QVERIFY(offered.contains(QStringLiteral("Filter by this host")));
    }
}

void tst_CaptureActions::closeEndsALiveConnection()
{
    MainWindow window{ProxyConfig()};
    window.show();
    startOn(window);
    const quint16 port = window.server()->listenPort();
    auto held = std::async(std::launch::async, [port] {
        Socket client = connectTo("127.0.0.1", port);
        sendAll(client.fd(), "GET /hold HTTP/1.1\r\nHost: shop.test\r\n\r\n");
        int error = 0;
        readUntilEof(client.fd(), &error);
        return error;
    });
    QTableView *connections = WindowDriver::view(window, "connectionsView");
    QTRY_COMPARE(connections->model()->rowCount(), 1);
    connections->setFocus();
    connections->selectRow(0);
    trigger(window, "closeConnection");
    QTRY_VERIFY(window.store()->connectionAt(0).isClosed());
    QCOMPARE(window.store()->connectionAt(0).error, QStringLiteral("closed by the user"));
    QVERIFY(held.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    held.get();
    QTRY_VERIFY(!window.actions()->action("closeConnection")->isEnabled());
}

void tst_CaptureActions::rowMenuBreaksALiveConnection()
{
    EchoServer echo;
    MainWindow window{ProxyConfig()};
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.setListenText(QStringLiteral("127.0.0.1:0"));
    window.setTargetText(QStringLiteral("127.0.0.1:%1").arg(echo.port()));
    window.startProxy();
    QVERIFY(window.isListening());
    const quint16 port = window.server()->listenPort();
    Socket client = connectTo("127.0.0.1", port);
    QCOMPARE(offThread([&] {
                 sendAll(client.fd(), "ping");
                 return readExactly(client.fd(), 4);
             }),
             QByteArrayLiteral("ping"));
    QTableView *connections = WindowDriver::view(window, "connectionsView");
    QTRY_COMPARE(connections->model()->rowCount(), 1);
    connections->setFocus();
    connections->selectRow(0);
    auto state = [&] { return connections->model()->index(0, ConnectionTableModel::State).data().toString(); };

    // The row menu offers the faults for a live connection.
    const QStringList offered = offeredOnFirstRow(connections);
    for (const char *item : {"Reset now", "Half-close", "Stall", "Resume", "Throttle this connection…"})
        QVERIFY2(offered.contains(QString::fromUtf8(item)), qPrintable(offered.join(u'|')));

    // Stall up: the row says so, and what the client sends waits.
    ConnectionFaultMenu *faults = window.actions()->faultMenu();
    faults->action("stallUp")->trigger();
    QTRY_VERIFY2(state().contains(QStringLiteral("up stalled")), qPrintable(state()));
    sendAll(client.fd(), "held");
    QTest::qWait(200);
    QCOMPARE(window.store()->connectionAt(0).bytesUp, quint64(4));
    faults->action("resumeUp")->trigger();
    QTRY_VERIFY2(!state().contains(QStringLiteral("stalled")), qPrintable(state()));
    QCOMPARE(offThread([&] { return readExactly(client.fd(), 4); }), QByteArrayLiteral("held"));

    // Reset the client: its next read fails with a reset, and the row
    // says what ended it.
    faults->action("resetClient")->trigger();
    int error = 0;
    offThread([&] { return readUntilEof(client.fd(), &error); });
    QCOMPARE(error, ECONNRESET);
    QTRY_VERIFY(window.store()->connectionAt(0).isClosed());
    QVERIFY2(state().startsWith(QStringLiteral("broken on purpose: reset the client (by the user)")), qPrintable(state()));
}

void tst_CaptureActions::throttleDialogReadsWhatIsTyped()
{
    ThrottleDialog dialog;
    auto *downBandwidth = dialog.findChild<QLineEdit *>(QStringLiteral("downBandwidth"));
    auto *upLatency = dialog.findChild<QLineEdit *>(QStringLiteral("upLatency"));
    QVERIFY(downBandwidth && upLatency);
    QTest::keyClicks(downBandwidth, QStringLiteral("fast"));
    QVERIFY(!dialog.check());
    auto *error = dialog.findChild<QLabel *>(QStringLiteral("error"));
    QVERIFY2(error->text().contains(QStringLiteral("down bandwidth 'fast' is not a rate")), qPrintable(error->text()));
    downBandwidth->clear();
    QTest::keyClicks(downBandwidth, QStringLiteral("500KB/s"));
    QTest::keyClicks(upLatency, QStringLiteral("80ms"));
    QVERIFY(dialog.check());
    QCOMPARE(dialog.conditions(FaultAction::Target::Client).bytesPerSecond, 500'000);
    QCOMPARE(dialog.conditions(FaultAction::Target::Upstream).latencyUs, 80'000);
    QVERIFY(dialog.usePreset(QStringLiteral("Fast 4G")));
    QVERIFY(dialog.check());
    QCOMPARE(dialog.conditions(FaultAction::Target::Client).bytesPerSecond, 1'012'500);
    QCOMPARE(dialog.conditions(FaultAction::Target::Client).latencyUs + dialog.conditions(FaultAction::Target::Upstream).latencyUs,
             165'000);
}

void tst_CaptureActions::resendAndEditAndResend()
{
    MainWindow window{ProxyConfig()};
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    startOn(window);
    const QByteArray original = "POST /echo HTTP/1.1\r\nHost: shop.test\r\nX-Case: MiXeD\r\nContent-Length: 5\r\n\r\nhello";
    askOnce(window.server()->listenPort(), original);
    QTRY_COMPARE(window.store()->exchangeCount(), 1);

    selectExchanges(window, {0});
    trigger(window, "resend");
    QTRY_COMPARE(window.store()->exchangeCount(), 2);
    const HttpExchange again = window.store()->exchangeAt(1);
    QCOMPARE(again.request.raw, window.store()->exchangeAt(0).request.raw);
    QCOMPARE(again.requestBody, QByteArray("hello"));
    QCOMPARE(again.response.status, 200);
    // The server saw the same bytes both times (it answers with them).
    QCOMPARE(again.responseBody, original);
    QCOMPARE(window.store()->exchangeAt(0).responseBody, original);
    selectExchanges(window, {1});
    WindowDriver::view(window, "exchangesView")->setCurrentIndex(WindowDriver::view(window, "exchangesView")->model()->index(1, 0));
    auto *detail = window.findChild<ExchangeDetailView *>(QStringLiteral("detailView"));
    QTRY_VERIFY2(detail->tabText(ExchangeDetailView::HeadsTab).startsWith(QLatin1String("# resent from connection 1, exchange 1")),
                 qPrintable(detail->tabText(ExchangeDetailView::HeadsTab).left(200)));

    selectExchanges(window, {0});
    trigger(window, "editAndResend");
    RequestComposer *composer = nullptr;
    QTRY_VERIFY((composer = window.findChild<RequestComposer *>()) != nullptr);
    composer->findChild<QLineEdit *>(QStringLiteral("composerUrl"))->setText(QStringLiteral("http://shop.test/edited?q=2"));
    composer->findChild<QPlainTextEdit *>(QStringLiteral("composerBody"))->setPlainText(QStringLiteral("changed body"));
    QTest::mouseClick(composer->findChild<QPushButton *>(QStringLiteral("composerSend")), Qt::LeftButton);
    QTRY_COMPARE(window.store()->exchangeCount(), 3);
    const HttpExchange edited = window.store()->exchangeAt(2);
    QCOMPARE(edited.request.target(), QByteArrayView("/edited?q=2"));
    QCOMPARE(edited.request.value("x-case"), QByteArrayView("MiXeD"));
    QCOMPARE(edited.request.value("content-length"), QByteArrayView("12"));
    QCOMPARE(edited.requestBody, QByteArray("changed body"));
    QVERIFY(edited.responseBody.startsWith("POST /edited?q=2 HTTP/1.1\r\nHost: shop.test\r\nX-Case: MiXeD\r\n"));

    // Not listening: said, nothing sent.
    window.stopProxy();
    QTRY_VERIFY(!window.isListening());
    selectExchanges(window, {0});
    trigger(window, "resend");
    QVERIFY(banner(window).startsWith(QLatin1String("Start the proxy to send a request again")));
}

void tst_CaptureActions::resendThroughTheHttpProxy()
{
    MainWindow window{ProxyConfig()};
    window.show();
    window.setListenText(QStringLiteral("127.0.0.1:0"));
    window.findChild<QComboBox *>(QStringLiteral("modeCombo"))->setCurrentIndex(1);
    window.startProxy();
    QVERIFY(window.isListening());
    QCOMPARE(window.server()->config().mode, ProxyConfig::Mode::HttpProxy);
    const QByteArray url = "http://127.0.0.1:" + QByteArray::number(m_web->port()) + "/echo";
    askOnce(window.server()->listenPort(), "GET " + url + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    QTRY_COMPARE(window.store()->exchangeCount(), 1);
    selectExchanges(window, {0});
    trigger(window, "resend");
    QTRY_COMPARE(window.store()->exchangeCount(), 2);
    // Absolute form to the proxy, as the client sent it.
    QCOMPARE(window.store()->exchangeAt(1).request.target(), QByteArrayView(url));
    QCOMPARE(window.store()->exchangeAt(1).response.status, 200);
}

void tst_CaptureActions::sessionSavedOpenedAndRefused()
{
    MainWindow window{ProxyConfig()};
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    startOn(window);
    const quint16 port = window.server()->listenPort();
    askOnce(port, "GET /gz HTTP/1.1\r\nHost: shop.test\r\n\r\n");
    askOnce(port, QByteArray("POST /echo HTTP/1.1\r\nHost: api.test\r\nContent-Length: 3\r\n\r\n") + QByteArray("\x00\xff\x01", 3));
    QTRY_COMPARE(window.store()->exchangeCount(), 2);
    QTRY_VERIFY(window.store()->connectionAt(1).isClosed());

    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("capture.jsonl"));
    QVERIFY(window.files()->write(path, QStringLiteral("session"), CaptureSelection()));
    window.stopProxy();
    QTRY_VERIFY(!window.isListening());
    window.clearCapture();
    QCOMPARE(window.store()->exchangeCount(), 0);

    QVERIFY(window.files()->open(path, true));
    QCOMPARE(window.store()->connectionCount(), 2);
    QCOMPARE(window.store()->exchangeCount(), 2);
    QVERIFY2(window.windowTitle().contains(QLatin1String("capture.jsonl (opened file)")), qPrintable(window.windowTitle()));
    QCOMPARE(window.store()->exchangeAt(1).requestBody, QByteArray("\x00\xff\x01", 3));
    // Saving what was opened gives the same file.
    const QString again = dir.filePath(QStringLiteral("again.jsonl"));
    QVERIFY(window.files()->write(again, QStringLiteral("session"), CaptureSelection()));
    QFile first(path), second(again);
    QVERIFY(first.open(QIODevice::ReadOnly) && second.open(QIODevice::ReadOnly));
    QCOMPARE(second.readAll(), first.readAll());

    // A file that is not a capture: refused, the lists stay.
    const QString bad = dir.filePath(QStringLiteral("bad.jsonl"));
    QFile badFile(bad);
    QVERIFY(badFile.open(QIODevice::WriteOnly));
    badFile.write("this is not a capture\n");
    badFile.close();
    QVERIFY(!window.files()->open(bad, true));
    QVERIFY2(banner(window).contains(QLatin1String("line 1: not a proxymon session")), qPrintable(banner(window)));
    QCOMPARE(window.store()->exchangeCount(), 2);

    // Starting the proxy begins a new capture; opening over it asks first.
    startOn(window);
    QCOMPARE(window.store()->exchangeCount(), 0);
    QVERIFY(!window.windowTitle().contains(QLatin1String("opened file")));
    askOnce(window.server()->listenPort(), "GET /gz HTTP/1.1\r\nHost: shop.test\r\n\r\n");
    QTRY_COMPARE(window.store()->exchangeCount(), 1);
    bool asked = false;
    QTimer::singleShot(200, this, [&] {
        auto *box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget());
        if (!box)
            return;
        asked = true;
        box->button(QMessageBox::Cancel)->click();
    });
    QVERIFY(!window.files()->open(path, true));
    QVERIFY(asked);
    QCOMPARE(window.store()->exchangeCount(), 1);
    QVERIFY(window.isListening());
}

QTEST_MAIN(tst_CaptureActions)
#include "tst_captureactions.moc"
