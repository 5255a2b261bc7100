#include "catrustdialog.h"
#include "certificateauthority.h"
#include "tlsinterception.h"
#include "tlstestserver.h"
#include "connectiontablemodel.h"
#include "exchangedetailview.h"
#include "exchangetablemodel.h"
#include "loopback.h"
#include "mainwindow.h"
#include "proxyserver.h"
#include "rawclientpanel.h"
#include "windowdriver.h"

#include <QAbstractItemModelTester>
#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QHeaderView>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProcess>
#include <QPushButton>
#include <QStandardPaths>
#include <QScrollBar>
#include <QSettings>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>
#include <QTest>
#include <QToolButton>

#include <sys/socket.h>
#include <zlib.h>

using namespace Loopback;
using namespace WindowDriver;

// Drives the real window on the offscreen platform the way a user does:
// types addresses, presses Start, sends traffic through the port, reads
// the rows and the detail, pauses, clears, stops.
class tst_MainWindow : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void startShowsTrafficAndDetail();
    void pauseClearAndStop();
    void busyPortIsReportedAndNothingListens();
    void inputIsValidatedAsTyped();
    void filterNarrowsBothLists();
    void compressedBodyIsDecoded();
    void rawConnectionShowsFirstBytes();
    void unreachableUpstreamShowsInRow();
    void settingsPersist();
    void remoteListenAsksFirst();
    void newRowsFollowUntilScrolledAway();
    void burstOfChangesArrivesWhole();
    void echoTargetAndRawClient();
    void columnMenuHidesAndMoves();
    void exportSavesWhatTheListsShow();
    void httpProxyModeShowsEachHost();

private:
    QTemporaryDir m_config;
    std::unique_ptr<ScriptedServer> m_web;
    WindowDriver::ModelTesters m_testers;
};

void tst_MainWindow::initTestCase()
{
    // Settings and the certificate authority go to a directory of the test's own.
    WindowDriver::isolate(m_config, QStringLiteral("proxymon-test"));
    // A small web server: answers by path, then closes.
    m_web = std::make_unique<ScriptedServer>([](Socket &connection, int) {
        QByteArray request;
        char buffer[4096];
        while (!request.contains("\r\n\r\n")) {
            const ssize_t n = ::recv(connection.fd(), buffer, sizeof buffer, 0);
            if (n <= 0)
                return;
            request.append(buffer, n);
        }
        QByteArray response;
        if (request.startsWith("GET /hello ")) {
            response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world";
        } else if (request.startsWith("GET /gz ")) {
            const QByteArray body = gzip("{\"compressed\":true,\"items\":[1,2,3]}");
            response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                       "Content-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" + body;
        } else {
            response = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
        }
        sendAll(connection.fd(), response);
    });
}

void tst_MainWindow::init()
{
    QSettings().clear();
    m_testers.clear();
}

void tst_MainWindow::startShowsTrafficAndDetail()
{
    MainWindow window{ProxyConfig()};
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    m_testers.attach(window);
    typeAndStart(window, m_web->port());
    auto *startStop = window.findChild<QAction *>(QStringLiteral("startStop"));
    QCOMPARE(startStop->text(), QStringLiteral("Stop"));
    const quint16 port = window.server()->listenPort();
    QVERIFY(label(window, "statusListening").contains(QStringLiteral("127.0.0.1:%1").arg(port)));

    const QByteArray request = "GET /hello HTTP/1.1\r\nHost: shop.test\r\n\r\n";
    const QByteArray reply = askOnce(port, request, true);
    QVERIFY(reply.endsWith("hello world"));

    QTableView *connections = view(window, "connectionsView");
    QTRY_COMPARE(connections->model()->rowCount(), 1);
    QTRY_VERIFY(cell(connections, 0, ConnectionTableModel::State).startsWith(QStringLiteral("closed")));
    QCOMPARE(cell(connections, 0, ConnectionTableModel::BytesUp), QStringLiteral("%1 B").arg(request.size()));
    QCOMPARE(cell(connections, 0, ConnectionTableModel::BytesDown), QStringLiteral("%1 B").arg(reply.size()));
    QCOMPARE(cell(connections, 0, ConnectionTableModel::Requests), QStringLiteral("1"));

    // Select the connection: its exchange lists, and the first is shown.
    const QRect rowRect = connections->visualRect(connections->model()->index(0, ConnectionTableModel::Client));
    QTest::mouseClick(connections->viewport(), Qt::LeftButton, {}, rowRect.center());
    QTableView *exchanges = view(window, "exchangesView");
    QTRY_COMPARE(exchanges->model()->rowCount(), 1);
    QCOMPARE(cell(exchanges, 0, ExchangeTableModel::Method), QStringLiteral("GET"));
    QCOMPARE(cell(exchanges, 0, ExchangeTableModel::Host), QStringLiteral("shop.test"));
    QCOMPARE(cell(exchanges, 0, ExchangeTableModel::Target), QStringLiteral("/hello"));
    QCOMPARE(cell(exchanges, 0, ExchangeTableModel::Status), QStringLiteral("200 OK"));
    auto *detail = window.findChild<ExchangeDetailView *>(QStringLiteral("detailView"));
    const QString heads = detail->tabText(ExchangeDetailView::HeadsTab);
    QVERIFY2(heads.contains(QStringLiteral("GET /hello HTTP/1.1\nHost: shop.test")), qPrintable(heads));
    QVERIFY(heads.contains(QStringLiteral("HTTP/1.1 200 OK\nContent-Type: text/plain")));
    QVERIFY(detail->tabText(ExchangeDetailView::BodyTab).contains(QStringLiteral("hello world")));
    QVERIFY(detail->tabText(ExchangeDetailView::RawTab).contains(QStringLiteral("47 45 54 20")));
    QVERIFY(detail->tabText(ExchangeDetailView::TimingTab).contains(QStringLiteral("Response complete")));
    QTRY_VERIFY(label(window, "statusConnections").contains(QStringLiteral("1 total")));
    press(window, "startStop");
    QVERIFY(!window.isListening());
}

void tst_MainWindow::pauseClearAndStop()
{
    MainWindow window{ProxyConfig()};
    window.show();
    m_testers.attach(window);
    typeAndStart(window, m_web->port());
    const quint16 port = window.server()->listenPort();
    QTableView *connections = view(window, "connectionsView");
    askOnce(port, "GET /hello HTTP/1.1\r\n\r\n", true);
    QTRY_COMPARE(connections->model()->rowCount(), 1);

    press(window, "pauseCapture");
    QVERIFY(label(window, "pausedLabel").contains(QStringLiteral("forwarding goes on")));
    QVERIFY(askOnce(port, "GET /hello HTTP/1.1\r\n\r\n", true).endsWith("hello world"));
    QTRY_COMPARE(window.server()->acceptedConnections(), quint64(2));
    QTRY_COMPARE(window.server()->liveConnections(), 0);
    QTest::qWait(200); // two batches
    QCOMPARE(connections->model()->rowCount(), 1);

    press(window, "pauseCapture");
    askOnce(port, "GET /hello HTTP/1.1\r\n\r\n", true);
    QTRY_COMPARE(connections->model()->rowCount(), 2);

    press(window, "clear");
    QCOMPARE(connections->model()->rowCount(), 0);
    QCOMPARE(view(window, "exchangesView")->model()->rowCount(), 0);

    press(window, "startStop");
    QVERIFY(!window.isListening());
    QCOMPARE(window.findChild<QAction *>(QStringLiteral("startStop"))->text(), QStringLiteral("Start"));
    QVERIFY(window.findChild<QLineEdit *>(QStringLiteral("listenEdit"))->isEnabled());
    QVERIFY(!connectTo("127.0.0.1", port).isValid());
    QCOMPARE(label(window, "statusListening"), QStringLiteral("Stopped"));
}

void tst_MainWindow::busyPortIsReportedAndNothingListens()
{
    quint16 busy = 0;
    Socket holder = listenOn("127.0.0.1", 8, &busy);
    MainWindow window{ProxyConfig()};
    window.show();
    auto *listen = window.findChild<QLineEdit *>(QStringLiteral("listenEdit"));
    listen->setText(QStringLiteral("127.0.0.1:%1").arg(busy));
    window.setTargetText(QStringLiteral("127.0.0.1:%1").arg(m_web->port()));
    press(window, "startStop");
    QVERIFY(!window.isListening());
    const QString banner = label(window, "banner");
    QVERIFY2(banner.contains(QStringLiteral("127.0.0.1:%1").arg(busy)), qPrintable(banner));
    QVERIFY2(banner.contains(QStringLiteral("EADDRINUSE")), qPrintable(banner));
    QCOMPARE(window.findChild<QAction *>(QStringLiteral("startStop"))->text(), QStringLiteral("Start"));
    QVERIFY(listen->isEnabled());
    // Freed, the same port starts, and the error goes away.
    holder.close();
    press(window, "startStop");
    QVERIFY(window.isListening());
    QCOMPARE(label(window, "banner"), QString());
}

void tst_MainWindow::inputIsValidatedAsTyped()
{
    MainWindow window{ProxyConfig()};
    window.show();
    auto *listen = window.findChild<QLineEdit *>(QStringLiteral("listenEdit"));
    auto *target = window.findChild<QComboBox *>(QStringLiteral("targetCombo"));
    auto *startStop = window.findChild<QAction *>(QStringLiteral("startStop"));
    listen->clear();
    QTest::keyClicks(listen, QStringLiteral("nonsense:80"));
    target->lineEdit()->clear();
    QTest::keyClicks(target->lineEdit(), QStringLiteral("example.test:80"));
    QVERIFY2(label(window, "inputProblem").contains(QStringLiteral("Listen: 'nonsense' is not an IP address")),
             qPrintable(label(window, "inputProblem")));
    QVERIFY(!startStop->isEnabled());
    listen->clear();
    QTest::keyClicks(listen, QStringLiteral("127.0.0.1:8080"));
    QCOMPARE(label(window, "inputProblem"), QString());
    QVERIFY(startStop->isEnabled());
    target->lineEdit()->clear();
    QTest::keyClicks(target->lineEdit(), QStringLiteral("example.test:99999"));
    QVERIFY(label(window, "inputProblem").startsWith(QStringLiteral("Target: ")));
    QVERIFY(!startStop->isEnabled());
    target->lineEdit()->clear();
    QTest::keyClicks(target->lineEdit(), QStringLiteral("example.test:80"));
    listen->clear();
    QTest::keyClicks(listen, QStringLiteral("0.0.0.0:8080"));
    QVERIFY(label(window, "inputProblem").contains(QStringLiteral("reachable from other machines")));
    QVERIFY(startStop->isEnabled()); // allowed, after a confirmation
}

void tst_MainWindow::filterNarrowsBothLists()
{
    MainWindow window{ProxyConfig()};
    window.show();
    m_testers.attach(window);
    typeAndStart(window, m_web->port());
    const quint16 port = window.server()->listenPort();
    askOnce(port, "GET /hello HTTP/1.1\r\nHost: a.test\r\n\r\n", true);
    askOnce(port, "GET /missing HTTP/1.1\r\nHost: b.test\r\n\r\n", true);
    QTableView *connections = view(window, "connectionsView");
    QTableView *exchanges = view(window, "exchangesView");
    window.findChild<QAction *>(QStringLiteral("allExchanges"))->setChecked(true);
    QTRY_COMPARE(exchanges->model()->rowCount(), 2);
    QTRY_COMPARE(connections->model()->rowCount(), 2);

    QTest::keySequence(&window, QKeySequence::Find);
    auto *filter = window.findChild<QLineEdit *>(QStringLiteral("filterEdit"));
    QTRY_VERIFY(filter->hasFocus());
    QTest::keyClicks(filter, QStringLiteral("status:4xx"));
    QTRY_COMPARE(exchanges->model()->rowCount(), 1);
    QCOMPARE(cell(exchanges, 0, ExchangeTableModel::Target), QStringLiteral("/missing"));
    QTRY_COMPARE(connections->model()->rowCount(), 1);
    filter->clear();
    QTest::keyClicks(filter, QStringLiteral("host:a.test"));
    // The filter applies a moment after typing stops.
    QTRY_COMPARE(cell(exchanges, 0, ExchangeTableModel::Host), QStringLiteral("a.test"));
    QCOMPARE(exchanges->model()->rowCount(), 1);
    QCOMPARE(connections->model()->rowCount(), 1);
    filter->clear();
    QTRY_COMPARE(exchanges->model()->rowCount(), 2);
    QTRY_COMPARE(connections->model()->rowCount(), 2);
}

void tst_MainWindow::compressedBodyIsDecoded()
{
    MainWindow window{ProxyConfig()};
    window.show();
    typeAndStart(window, m_web->port());
    askOnce(window.server()->listenPort(), "GET /gz HTTP/1.1\r\n\r\n", true);
    QTableView *connections = view(window, "connectionsView");
    QTRY_COMPARE(connections->model()->rowCount(), 1);
    QTRY_VERIFY(cell(connections, 0, ConnectionTableModel::State).startsWith(QStringLiteral("closed")));
    connections->setCurrentIndex(connections->model()->index(0, 0));
    auto *detail = window.findChild<ExchangeDetailView *>(QStringLiteral("detailView"));
    const QString body = detail->tabText(ExchangeDetailView::BodyTab);
    QVERIFY2(body.contains(QStringLiteral("gzip decoded to 35 B")), qPrintable(body));
    QVERIFY2(body.contains(QStringLiteral("\"compressed\": true")), qPrintable(body)); // pretty JSON
}

void tst_MainWindow::rawConnectionShowsFirstBytes()
{
    EchoServer echo;
    MainWindow window{ProxyConfig()};
    window.show();
    typeAndStart(window, echo.port());
    const QByteArray hello("\x16\x03\x01\x00\x05hello", 10);
    QCOMPARE(askOnce(window.server()->listenPort(), hello, true), hello);
    QTableView *connections = view(window, "connectionsView");
    QTRY_COMPARE(connections->model()->rowCount(), 1);
    QTRY_COMPARE(cell(connections, 0, ConnectionTableModel::Requests), QStringLiteral("raw"));
    connections->setCurrentIndex(connections->model()->index(0, 0));
    auto *detail = window.findChild<ExchangeDetailView *>(QStringLiteral("detailView"));
    const QString raw = detail->tabText(ExchangeDetailView::RawTab);
    QVERIFY2(raw.contains(QStringLiteral("16 03 01 00 05 68 65 6c  6c 6f")), qPrintable(raw));
    QVERIFY(raw.contains(QStringLiteral("|.....hello|")));
}

void tst_MainWindow::unreachableUpstreamShowsInRow()
{
    MainWindow window{ProxyConfig()};
    window.show();
    typeAndStart(window, unusedPort());
    QCOMPARE(askOnce(window.server()->listenPort(), "GET / HTTP/1.1\r\n\r\n", true), QByteArray());
    QTableView *connections = view(window, "connectionsView");
    QTRY_COMPARE(connections->model()->rowCount(), 1);
    QTRY_VERIFY(cell(connections, 0, ConnectionTableModel::State).startsWith(QStringLiteral("failed: ")));
    QVERIFY(cell(connections, 0, ConnectionTableModel::State).contains(QStringLiteral("refused")));
}

void tst_MainWindow::settingsPersist()
{
    {
        MainWindow window{ProxyConfig()};
        window.show();
        typeAndStart(window, m_web->port());
        view(window, "connectionsView")->horizontalHeader()->setSectionHidden(ConnectionTableModel::Rate, true);
        window.close();
    }
    MainWindow again{ProxyConfig()};
    QCOMPARE(again.findChild<QLineEdit *>(QStringLiteral("listenEdit"))->text(), QStringLiteral("127.0.0.1:0"));
    auto *target = again.findChild<QComboBox *>(QStringLiteral("targetCombo"));
    QCOMPARE(target->currentText(), QStringLiteral("127.0.0.1:%1").arg(m_web->port()));
    QCOMPARE(target->count(), 2);
    QCOMPARE(target->itemText(1), QStringLiteral("builtin:echo")); // always offered
    QVERIFY(view(again, "connectionsView")->horizontalHeader()->isSectionHidden(ConnectionTableModel::Rate));
}

void tst_MainWindow::remoteListenAsksFirst()
{
    // Only the question is tested: answering it with Cancel binds nothing
    // (the tests never listen beyond loopback).
    MainWindow window{ProxyConfig()};
    window.show();
    window.setListenText(QStringLiteral("0.0.0.0:0"));
    window.setTargetText(QStringLiteral("127.0.0.1:%1").arg(m_web->port()));
    QString question;
    QTimer::singleShot(0, &window, [&] {
        auto *box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget());
        if (!box)
            return;
        question = box->text();
        box->button(QMessageBox::Cancel)->click();
    });
    press(window, "startStop");
    QVERIFY2(question.contains(QStringLiteral("lets other machines use proxymon")), qPrintable(question));
    QVERIFY(!window.isListening());
    QCOMPARE(label(window, "remoteWarning"), QString());
}

void tst_MainWindow::newRowsFollowUntilScrolledAway()
{
    MainWindow window{ProxyConfig()};
    window.resize(900, 500);
    window.show();
    typeAndStart(window, m_web->port());
    const quint16 port = window.server()->listenPort();
    QTableView *connections = view(window, "connectionsView");
    QScrollBar *bar = connections->verticalScrollBar();
    const auto traffic = [&](int count) {
        offThread([&] {
            for (int i = 0; i < count; ++i) {
                Socket client = connectTo("127.0.0.1", port);
                sendAll(client.fd(), "GET /hello HTTP/1.1\r\n\r\n");
                client.shutdownWrite();
                readUntilEof(client.fd());
            }
            return 0;
        });
    };
    traffic(40);
    QTRY_COMPARE(connections->model()->rowCount(), 40);
    QTRY_VERIFY(bar->maximum() > 0);
    QTRY_COMPARE(bar->value(), bar->maximum()); // the newest row is in view
    bar->setValue(0);                            // the user scrolls up
    traffic(10);
    QTRY_COMPARE(connections->model()->rowCount(), 50);
    QTest::qWait(100);
    QCOMPARE(bar->value(), 0);                   // and the list stays put
    bar->setValue(bar->maximum());               // back at the bottom: following again
    traffic(10);
    QTRY_COMPARE(connections->model()->rowCount(), 60);
    QTRY_COMPARE(bar->value(), bar->maximum());
}

void tst_MainWindow::burstOfChangesArrivesWhole()
{
    // 1,200 live connections all change while the window's thread is
    // busy: the batches waiting for it hold more records than it takes in
    // one turn, so they come in over several turns. Every row arrives, in
    // id order, with its latest counts. (No model tester here: its checks
    // over 1,200 rows take seconds per change.)
    constexpr int Clients = 1200;
    EchoServer echo;
    MainWindow window{ProxyConfig()};
    window.resize(900, 500);
    window.show();
    typeAndStart(window, echo.port());
    const quint16 port = window.server()->listenPort();
    std::vector<Socket> clients = offThread([&] {
        std::vector<Socket> opened;
        for (int i = 0; i < Clients; ++i) {
            opened.push_back(connectTo("127.0.0.1", port));
            sendAll(opened.back().fd(), "x");
            readExactly(opened.back().fd(), 1);
        }
        return opened;
    });
    QTableView *connections = view(window, "connectionsView");
    QAbstractItemModel *model = connections->model();
    QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(), Clients, 20'000);

    // No events run on this thread from here until the wait below.
    const QByteArray message(999, 'm');
    for (Socket &client : clients) {
        QVERIFY(sendAll(client.fd(), message));
        QCOMPARE(readExactly(client.fd(), message.size()).size(), message.size());
    }
    QThread::msleep(200); // the workers' reports of every connection wait

    const auto bytesUp = [&](int row) {
        return model->index(row, ConnectionTableModel::BytesUp).data(ConnectionTableModel::SortRole).toULongLong();
    };
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            for (int row = 0; row < model->rowCount(); ++row)
                if (bytesUp(row) != 1000)
                    return false;
            return true;
        }(),
        10'000);
    QCOMPARE(model->rowCount(), Clients);
    quint64 previous = 0;
    for (int row = 0; row < Clients; ++row) {
        const quint64 id = model->index(row, 0).data(ConnectionTableModel::IdRole).toULongLong();
        QVERIFY2(id > previous, qPrintable(QStringLiteral("row %1: id %2 after %3").arg(row).arg(id).arg(previous)));
        previous = id;
    }
    for (Socket &client : clients)
        client.close();
    QTRY_COMPARE_WITH_TIMEOUT(window.server()->liveConnections(), 0, 10'000);
}

void tst_MainWindow::echoTargetAndRawClient()
{
    // The newcomer's tour, with no other program: echo target, raw client,
    // the connection's whole life in the list.
    MainWindow window{ProxyConfig()};
    window.show();
    auto *target = window.findChild<QComboBox *>(QStringLiteral("targetCombo"));
    target->setCurrentIndex(target->findText(QStringLiteral("builtin:echo")));
    window.setListenText(QStringLiteral("127.0.0.1:0"));
    press(window, "startStop");
    QVERIFY(window.isListening());
    QVERIFY(label(window, "statusListening").contains(QStringLiteral("→ builtin:echo")));

    press(window, "showRawClient");
    auto *raw = window.findChild<RawClientPanel *>(QStringLiteral("rawClient"));
    QVERIFY(raw->isVisible());
    auto *rawTarget = raw->findChild<QLineEdit *>(QStringLiteral("rawTarget"));
    QCOMPARE(rawTarget->text(), QStringLiteral("127.0.0.1:%1").arg(window.server()->listenPort()));
    QTest::mouseClick(raw->findChild<QPushButton *>(QStringLiteral("rawConnect")), Qt::LeftButton);
    QTRY_COMPARE(raw->client()->state(), RawClient::State::Open);

    auto *preset = raw->findChild<QComboBox *>(QStringLiteral("rawPreset"));
    preset->setCurrentIndex(1); // the lab's GET with a Host header
    raw->findChild<QComboBox *>(QStringLiteral("rawLineEnd"))->setCurrentIndex(1); // bare LF, as the lab sends
    QTest::mouseClick(raw->findChild<QPushButton *>(QStringLiteral("rawSend")), Qt::LeftButton);
    QTRY_VERIFY(raw->receivedText().contains(QStringLiteral("Host: www.google.com")));

    QTableView *connections = view(window, "connectionsView");
    QTRY_COMPARE(connections->model()->rowCount(), 1);
    QTRY_COMPARE(cell(connections, 0, ConnectionTableModel::State), QStringLiteral("open"));
    QCOMPARE(cell(connections, 0, ConnectionTableModel::Upstream).left(12), QStringLiteral("builtin:echo"));

    // Shut down write: the echo server sends the rest and closes.
    QTest::mouseClick(raw->findChild<QPushButton *>(QStringLiteral("rawShutdown")), Qt::LeftButton);
    QTRY_COMPARE(raw->client()->state(), RawClient::State::Closed);
    QVERIFY2(raw->statusText().contains(QStringLiteral("EOF after your half-close")), qPrintable(raw->statusText()));
    QTRY_COMPARE(cell(connections, 0, ConnectionTableModel::State), QStringLiteral("closed (client first)"));
    QCOMPARE(cell(connections, 0, ConnectionTableModel::BytesUp), QStringLiteral("37 B"));
    QCOMPARE(cell(connections, 0, ConnectionTableModel::BytesDown), QStringLiteral("37 B"));

    // Reset: a new connection, aborted; the list says so.
    QTest::mouseClick(raw->findChild<QPushButton *>(QStringLiteral("rawConnect")), Qt::LeftButton);
    QTRY_COMPARE(raw->client()->state(), RawClient::State::Open);
    QTRY_COMPARE(connections->model()->rowCount(), 2);
    QTest::mouseClick(raw->findChild<QPushButton *>(QStringLiteral("rawReset")), Qt::LeftButton);
    QTRY_COMPARE(cell(connections, 1, ConnectionTableModel::State), QStringLiteral("reset by client"));
}

void tst_MainWindow::columnMenuHidesAndMoves()
{
    MainWindow window{ProxyConfig()};
    window.show();
    QHeaderView *header = view(window, "connectionsView")->horizontalHeader();
    // Opens the header's menu over a column and picks an entry by its text.
    const auto pick = [&](int column, const QString &entry) {
        bool found = false;
        QTimer::singleShot(0, &window, [&] {
            auto *menu = qobject_cast<QMenu *>(QApplication::activePopupWidget());
            if (!menu)
                return;
            for (QAction *action : menu->actions()) {
                if (action->text() == entry && action->isEnabled()) {
                    found = true;
                    action->trigger();
                }
            }
            menu->close();
        });
        const int x = header->sectionViewportPosition(column) + header->sectionSize(column) / 2;
        emit header->customContextMenuRequested(QPoint(x, header->height() / 2));
        return found;
    };
    QCOMPARE(header->visualIndex(ConnectionTableModel::Client), 2);
    QVERIFY(pick(ConnectionTableModel::Client, QStringLiteral("Move “Client” left")));
    QCOMPARE(header->visualIndex(ConnectionTableModel::Client), 1);
    QVERIFY(pick(ConnectionTableModel::BytesUp, QStringLiteral("Up"))); // the checkable entry: hides it
    QVERIFY(header->isSectionHidden(ConnectionTableModel::BytesUp));
    QVERIFY(pick(ConnectionTableModel::Client, QStringLiteral("Original order")));
    QCOMPARE(header->visualIndex(ConnectionTableModel::Client), 2);
    QVERIFY(pick(ConnectionTableModel::Client, QStringLiteral("Show all columns")));
    QVERIFY(!header->isSectionHidden(ConnectionTableModel::BytesUp));
}

void tst_MainWindow::exportSavesWhatTheListsShow()
{
    MainWindow window{ProxyConfig()};
    window.show();
    typeAndStart(window, m_web->port());
    const quint16 port = window.server()->listenPort();
    askOnce(port, "GET /hello HTTP/1.1\r\n\r\n", true);
    askOnce(port, "GET /missing HTTP/1.1\r\n\r\n", true);
    QTableView *connections = view(window, "connectionsView");
    QTRY_COMPARE(connections->model()->rowCount(), 2);
    QTRY_VERIFY(cell(connections, 1, ConnectionTableModel::State).startsWith(QStringLiteral("closed")));
    window.findChild<QLineEdit *>(QStringLiteral("filterEdit"))->setText(QStringLiteral("status:404"));

    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("capture.jsonl"));
    QVERIFY(window.exportTo(path));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QStringList events;
    QString target;
    for (const QByteArray &line : file.readAll().split('\n')) {
        if (line.isEmpty())
            continue;
        const QJsonObject event = QJsonDocument::fromJson(line).object();
        events.append(event.value("event").toString());
        if (events.last() == u"exchange")
            target = event.value("request").toObject().value("target").toString();
    }
    QCOMPARE(events, QStringList({"connection_opened", "exchange", "connection_closed"}));
    QCOMPARE(target, QStringLiteral("/missing"));

    QVERIFY(!window.exportTo(dir.filePath(QStringLiteral("no/such/dir/capture.jsonl"))));
    QVERIFY(label(window, "banner").startsWith(QStringLiteral("Could not write ")));
}

void tst_MainWindow::httpProxyModeShowsEachHost()
{
    MainWindow window{ProxyConfig()};
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    m_testers.attach(window);
    auto *mode = window.findChild<QComboBox *>(QStringLiteral("modeCombo"));
    auto *target = window.findChild<QComboBox *>(QStringLiteral("targetCombo"));
    auto *listen = window.findChild<QLineEdit *>(QStringLiteral("listenEdit"));
    target->lineEdit()->clear(); // no target: fine for a proxy, not for forwarding
    listen->clear();
    QTest::keyClicks(listen, QStringLiteral("127.0.0.1:0"));
    QVERIFY(!window.findChild<QAction *>(QStringLiteral("startStop"))->isEnabled());
    mode->setFocus();
    QTest::keyClick(mode, Qt::Key_Down);
    QCOMPARE(mode->currentText(), QStringLiteral("HTTP proxy"));
    QTRY_VERIFY(!target->isVisible());
    QCOMPARE(label(window, "inputProblem"), QString());

    // Beyond loopback, an HTTP proxy needs its allow-list before it starts.
    window.setListenText(QStringLiteral("0.0.0.0:0"));
    QVERIFY(label(window, "inputProblem").contains(QStringLiteral("name the clients")));
    QTRY_VERIFY(window.findChild<QLineEdit *>(QStringLiteral("allowEdit"))->isVisible());
    QVERIFY(!window.findChild<QAction *>(QStringLiteral("startStop"))->isEnabled());
    window.setListenText(QStringLiteral("127.0.0.1:0"));

    press(window, "startStop");
    QVERIFY(window.isListening());
    QVERIFY(label(window, "statusListening").contains(QStringLiteral("HTTP proxy")));
    const quint16 port = window.server()->listenPort();
    const QByteArray origin = "127.0.0.1:" + QByteArray::number(m_web->port());
    const QByteArray reply = askOnce(port, "GET http://" + origin + "/hello HTTP/1.1\r\n\r\n", true);
    QVERIFY2(reply.endsWith("hello world"), reply.constData());
    const QByteArray refused = "127.0.0.1:" + QByteArray::number(unusedPort());
    QVERIFY(askOnce(port, "GET http://" + refused + "/ HTTP/1.1\r\n\r\n", true).startsWith("HTTP/1.1 502 "));

    // A tunnel shows as a connection to its host:port, counting the bytes
    // that went through it.
    const QByteArray inner = "GET /hello HTTP/1.1\r\nHost: tunnelled\r\n\r\n";
    const QByteArray tunnelled = askOnce(port, "CONNECT " + origin + " HTTP/1.1\r\n\r\n" + inner, true);
    QVERIFY2(tunnelled.startsWith("HTTP/1.1 200 Connection established\r\n\r\nHTTP/1.1 200 OK"),
             tunnelled.constData());

    QTableView *connections = view(window, "connectionsView");
    QTRY_COMPARE(connections->model()->rowCount(), 3);
    QTRY_VERIFY(cell(connections, 1, ConnectionTableModel::State).startsWith(QStringLiteral("failed: ")));
    QTRY_VERIFY(cell(connections, 2, ConnectionTableModel::State).startsWith(QStringLiteral("closed")));
    QCOMPARE(cell(connections, 2, ConnectionTableModel::Upstream), QString::fromLatin1(origin));
    QCOMPARE(cell(connections, 2, ConnectionTableModel::BytesUp), QStringLiteral("%1 B").arg(inner.size()));
    QCOMPARE(cell(connections, 2, ConnectionTableModel::BytesDown), QStringLiteral("%1 B").arg(tunnelled.size()));
    QCOMPARE(cell(connections, 0, ConnectionTableModel::Upstream), QString::fromLatin1(origin));
    QCOMPARE(cell(connections, 1, ConnectionTableModel::Upstream), QString::fromLatin1(refused));
    QVERIFY(cell(connections, 1, ConnectionTableModel::State).contains(QStringLiteral("refused")));

    window.findChild<QAction *>(QStringLiteral("allExchanges"))->setChecked(true);
    QTableView *exchanges = view(window, "exchangesView");
    QTRY_COMPARE(exchanges->model()->rowCount(), 3);
    QCOMPARE(cell(exchanges, 0, ExchangeTableModel::Host), QString::fromLatin1(origin));
    QCOMPARE(cell(exchanges, 0, ExchangeTableModel::Status), QStringLiteral("200 OK"));
    QCOMPARE(cell(exchanges, 1, ExchangeTableModel::Host), QString::fromLatin1(refused));
    QCOMPARE(cell(exchanges, 1, ExchangeTableModel::Status), QStringLiteral("502 Bad Gateway"));
    QCOMPARE(cell(exchanges, 2, ExchangeTableModel::Method), QStringLiteral("CONNECT"));
    QCOMPARE(cell(exchanges, 2, ExchangeTableModel::Host), QString::fromLatin1(origin));
    press(window, "startStop");
}

QTEST_MAIN(tst_MainWindow)
#include "tst_mainwindow.moc"
