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

// The window's decryption and conditions, driven as a user drives them:
// an intercepted connection's rows, the trust dialog, the conditions panel
// on a running proxy.
class tst_WindowPanels : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void interceptedConnectionShowsBothLegs();
    void trustDialogShowsTheAuthority();
    void conditionsPanelAppliesToTheRunningProxy();
    void conditionsPanelKeepsItsTextNotItsRules();

private:
    QTemporaryDir m_config;
    WindowDriver::ModelTesters m_testers;
};

void tst_WindowPanels::initTestCase()
{
    WindowDriver::isolate(m_config, QStringLiteral("proxymon-test-panels"));
}

void tst_WindowPanels::init()
{
    QSettings().clear();
    m_testers.clear();
}

void tst_WindowPanels::interceptedConnectionShowsBothLegs()
{
    // curl trusts proxymon's authority and asks for https://shop.test; the
    // row says it was decrypted, the exchange is an https one, and the TLS
    // tab shows both legs. A client that does not trust proxymon puts its
    // host on the bar above the list, and one click there undoes that.
    QString error;
    const auto upstreams = CertificateAuthority::open(m_config.path() + QStringLiteral("/upstreams"), &error);
    QVERIFY2(upstreams, qPrintable(error));
    TlsTestServer upstream(*upstreams, TlsTestServer::Behaviour::Hello, {QStringLiteral("shop.test")});
    ProxyConfig engine;
    engine.upstreamCaFile = upstreams->certificatePath();
    MainWindow window{engine};
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    m_testers.attach(window);
    typeAndStart(window, upstream.port());
    const quint16 port = window.server()->listenPort();
    const QString proxymonCa = CertificateAuthority::defaultDirectory() + QStringLiteral("/proxymon-ca.pem");
    const auto curl = [&](const QString &trusted) {
        QProcess process;
        process.start(QStandardPaths::findExecutable(QStringLiteral("curl")),
                      {QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                       QStringLiteral("--resolve"), QStringLiteral("shop.test:%1:127.0.0.1").arg(port),
                       QStringLiteral("--cacert"), trusted, QStringLiteral("https://shop.test:%1/cart").arg(port)});
        if (!QTest::qWaitFor([&] { return process.state() == QProcess::NotRunning; }, 30'000))
            return -1;
        return process.exitCode();
    };
    QCOMPARE(curl(proxymonCa), 0);

    QTableView *connections = view(window, "connectionsView");
    QTRY_COMPARE(connections->model()->rowCount(), 1);
    QTRY_VERIFY(cell(connections, 0, ConnectionTableModel::State).startsWith(QStringLiteral("closed")));
    QCOMPARE(cell(connections, 0, ConnectionTableModel::Tls), QStringLiteral("decrypted TLSv1.3"));
    const QRect rowRect = connections->visualRect(connections->model()->index(0, ConnectionTableModel::Client));
    QTest::mouseClick(connections->viewport(), Qt::LeftButton, {}, rowRect.center());
    QTableView *exchanges = view(window, "exchangesView");
    QTRY_COMPARE(exchanges->model()->rowCount(), 1);
    QCOMPARE(cell(exchanges, 0, ExchangeTableModel::Status), QStringLiteral("200 OK"));
    auto *detail = window.findChild<ExchangeDetailView *>(QStringLiteral("detailView"));
    const QString tls = detail->tabText(ExchangeDetailView::TlsTab);
    QVERIFY2(tls.contains(QStringLiteral("Decrypted")) && tls.contains(QStringLiteral("Client ⇄ proxymon"))
                 && tls.contains(QStringLiteral("SNI           shop.test"))
                 && tls.contains(QStringLiteral("certificate   verified")) && tls.contains(QStringLiteral("sha256")),
             qPrintable(tls));

    // Rejected: on the bar, passed through next time, and undone there.
    QCOMPARE(curl(upstreams->certificatePath()), 60);
    QTRY_VERIFY(label(window, "passthroughBar").contains(QStringLiteral("shop.test")));
    QCOMPARE(curl(upstreams->certificatePath()), 0);
    auto *bar = window.findChild<QLabel *>(QStringLiteral("passthroughBar"));
    emit bar->linkActivated(QStringLiteral("decrypt:shop.test"));
    QVERIFY(!bar->isVisible());
    QVERIFY(window.server()->interception().rejections().isEmpty());

    // The toolbar's switch turns decryption off for the next connections.
    press(window, "decryptAction");
    QCOMPARE(curl(upstreams->certificatePath()), 0);
    QTRY_COMPARE(connections->model()->rowCount(), 4);
    QTRY_COMPARE(cell(connections, 3, ConnectionTableModel::Tls), QStringLiteral("passthrough"));
    press(window, "startStop");
    QTRY_VERIFY(!window.server()->isDraining());

    // The key log, off by default, holds both legs' secrets once chosen.
    auto *keyLog = window.findChild<QAction *>(QStringLiteral("keyLogAction"));
    QVERIFY(!keyLog->isChecked());
    const QString keys = m_config.path() + QStringLiteral("/keys.log");
    window.setKeyLogFile(keys);
    QVERIFY(keyLog->isChecked());
    press(window, "decryptAction");
    press(window, "startStop");
    QVERIFY(window.isListening());
    const quint16 again = window.server()->listenPort();
    QProcess second;
    second.start(QStandardPaths::findExecutable(QStringLiteral("curl")),
                 {QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                  QStringLiteral("--resolve"), QStringLiteral("shop.test:%1:127.0.0.1").arg(again),
                  QStringLiteral("--cacert"), proxymonCa, QStringLiteral("https://shop.test:%1/").arg(again)});
    QVERIFY(QTest::qWaitFor([&] { return second.state() == QProcess::NotRunning; }, 30'000));
    QCOMPARE(second.exitCode(), 0);
    QFile logged(keys);
    QVERIFY(logged.open(QIODevice::ReadOnly));
    // TLS 1.3: five secrets per session, two sessions (client and upstream legs).
    QCOMPARE(logged.readAll().count('\n'), 10);
    press(window, "startStop");
}

void tst_WindowPanels::trustDialogShowsTheAuthority()
{
    MainWindow window{ProxyConfig()};
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    press(window, "trustCa");
    CaTrustDialog *dialog = nullptr;
    QTRY_VERIFY((dialog = window.findChild<CaTrustDialog *>()) != nullptr);
    const QString summary = dialog->findChild<QLabel *>(QStringLiteral("caSummary"))->text();
    QVERIFY2(summary.contains(m_config.path()) && summary.contains(QStringLiteral("SHA-256")), qPrintable(summary));
    const QList<QLineEdit *> commands = dialog->findChildren<QLineEdit *>(QStringLiteral("trustCommand"));
    QVERIFY(commands.size() >= 4);
    QVERIFY(commands.first()->text().contains(QStringLiteral("update-ca-certificates")));

    const QString der = m_config.path() + QStringLiteral("/saved.der");
    QVERIFY(dialog->saveTo(der, true));
    QFile file(der);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QVERIFY(file.readAll().startsWith("\x30\x82"));
    QVERIFY(!dialog->saveTo(m_config.path() + QStringLiteral("/no/such/dir/x.pem"), false));
    QVERIFY(dialog->findChild<QLabel *>(QStringLiteral("caProblem"))->isVisible());

    QVERIFY(dialog->replaceAuthority());
    QVERIFY(dialog->findChild<QLabel *>(QStringLiteral("caSummary"))->text() != summary);
    dialog->close();
}

void tst_WindowPanels::conditionsPanelAppliesToTheRunningProxy()
{
    EchoServer echo;
    MainWindow window{ProxyConfig()};
    window.show();
    typeAndStart(window, echo.port());
    press(window, "showConditions");
    auto *conditions = window.findChild<QPlainTextEdit *>(QStringLiteral("conditionsEdit"));
    auto *faults = window.findChild<QPlainTextEdit *>(QStringLiteral("faultsEdit"));
    auto *apply = window.findChild<QPushButton *>(QStringLiteral("applyConditions"));
    QVERIFY(conditions && faults && apply);
    QTRY_VERIFY(conditions->isVisible());
    auto roundTripMs = [&] {
        return offThread([&] {
            Socket client = connectTo("127.0.0.1", window.server()->listenPort());
            QElapsedTimer clock;
            clock.start();
            sendAll(client.fd(), "ping");
            if (readExactly(client.fd(), 4) != "ping")
                return qint64(-1);
            return clock.elapsed();
        });
    };

    // A line that does not parse is named, and nothing changes.
    conditions->setPlainText(QStringLiteral("# slow answers\ndown:latency=soon"));
    QTest::mouseClick(apply, Qt::LeftButton);
    QTRY_VERIFY(!label(window, "conditionsError").isEmpty());
    QVERIFY2(label(window, "conditionsError").contains(QStringLiteral("line 2 'down:latency=soon': latency 'soon'")),
             qPrintable(label(window, "conditionsError")));
    QVERIFY(window.server()->config().rules.isEmpty());

    // Applied to the running proxy: the next connection has the latency,
    // and its row says so.
    conditions->setPlainText(QStringLiteral("down:latency=300ms"));
    QTest::keyClicks(faults, QStringLiteral("stall:dir=up,after=30s"));
    QTest::mouseClick(apply, Qt::LeftButton);
    QVERIFY(label(window, "conditionsError").isEmpty());
    QVERIFY2(label(window, "conditionsInForce").contains(QStringLiteral("down 300ms")),
             qPrintable(label(window, "conditionsInForce")));
    QVERIFY(label(window, "conditionsInForce").contains(QStringLiteral("stall up after 30s")));
    const qint64 slow = roundTripMs();
    QVERIFY2(slow >= 295, qPrintable(QString::number(slow)));
    QTableView *connections = view(window, "connectionsView");
    QTRY_COMPARE(connections->model()->rowCount(), 1);
    QTRY_VERIFY2(window.store()->connectionAt(0).conditions.contains(QStringLiteral("down 300ms")),
                 qPrintable(window.store()->connectionAt(0).conditions));

    // Removed: the next one is fast again.
    QTest::mouseClick(window.findChild<QPushButton *>(QStringLiteral("removeConditions")), Qt::LeftButton);
    QVERIFY(label(window, "conditionsInForce").contains(QStringLiteral("nothing")));
    const qint64 fast = roundTripMs();
    QVERIFY2(fast >= 0 && fast < 200, qPrintable(QString::number(fast)));
}

void tst_WindowPanels::conditionsPanelKeepsItsTextNotItsRules()
{
    // What was typed is there at the next start; nothing is in force
    // until Apply, so a fault left in the panel breaks nothing by itself.
    {
        MainWindow window{ProxyConfig()};
        window.show();
        press(window, "showConditions");
        window.findChild<QPlainTextEdit *>(QStringLiteral("conditionsEdit"))->setPlainText(QStringLiteral("down:latency=50ms"));
        window.findChild<QPlainTextEdit *>(QStringLiteral("faultsEdit"))->setPlainText(QStringLiteral("reset:after=1s"));
        window.findChild<QComboBox *>(QStringLiteral("presetCombo"))->setCurrentIndex(2);
        window.close();
    }
    MainWindow window{ProxyConfig()};
    window.show();
    QCOMPARE(window.findChild<QPlainTextEdit *>(QStringLiteral("conditionsEdit"))->toPlainText(),
             QStringLiteral("down:latency=50ms"));
    QCOMPARE(window.findChild<QPlainTextEdit *>(QStringLiteral("faultsEdit"))->toPlainText(), QStringLiteral("reset:after=1s"));
    QCOMPARE(window.findChild<QComboBox *>(QStringLiteral("presetCombo"))->currentIndex(), 2);
    QVERIFY(label(window, "conditionsInForce").contains(QStringLiteral("nothing")));
    EchoServer echo;
    typeAndStart(window, echo.port());
    QVERIFY(window.server()->config().rules.isEmpty());
}

QTEST_MAIN(tst_WindowPanels)
#include "tst_windowpanels.moc"
