#include "windowdriver.h"

#include "loopback.h"
#include "mainwindow.h"

#include <QAction>
#include <QComboBox>
#include <QCoreApplication>
#include <QLabel>
#include <QLineEdit>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QToolButton>

namespace WindowDriver {

void isolate(const QTemporaryDir &dir, const QString &application)
{
    QVERIFY(dir.isValid());
    qputenv("XDG_CONFIG_HOME", dir.path().toLocal8Bit());
    qputenv("XDG_DATA_HOME", dir.path().toLocal8Bit());
    QCoreApplication::setOrganizationName(QStringLiteral("proxymon-test"));
    QCoreApplication::setApplicationName(application);
}

void press(MainWindow &window, const char *actionName)
{
    auto *action = window.findChild<QAction *>(QLatin1String(actionName));
    QVERIFY2(action, actionName);
    const auto buttons = window.findChildren<QToolButton *>();
    for (QToolButton *button : buttons) {
        if (button->defaultAction() == action && button->isVisible()) {
            QTest::mouseClick(button, Qt::LeftButton);
            return;
        }
    }
    action->trigger();
}

QTableView *view(MainWindow &window, const char *name)
{
    return window.findChild<QTableView *>(QLatin1String(name));
}

QString cell(QTableView *view, int row, int column)
{
    return view->model()->index(row, column).data().toString();
}

QString label(MainWindow &window, const char *name)
{
    auto *found = window.findChild<QLabel *>(QLatin1String(name));
    return found && found->isVisible() ? found->text() : QString();
}

void typeAndStart(MainWindow &window, quint16 targetPort)
{
    auto *listen = window.findChild<QLineEdit *>(QStringLiteral("listenEdit"));
    auto *target = window.findChild<QComboBox *>(QStringLiteral("targetCombo"));
    listen->clear();
    QTest::keyClicks(listen, QStringLiteral("127.0.0.1:0"));
    target->lineEdit()->clear();
    QTest::keyClicks(target->lineEdit(), QStringLiteral("127.0.0.1:%1").arg(targetPort));
    press(window, "startStop");
    QVERIFY(window.isListening());
}

void startOn(MainWindow &window, quint16 targetPort)
{
    window.setListenText(QStringLiteral("127.0.0.1:0"));
    window.setTargetText(QStringLiteral("127.0.0.1:%1").arg(targetPort));
    window.startProxy();
    QVERIFY(window.isListening());
}

void ModelTesters::attach(MainWindow &window)
{
    for (QTableView *table : window.findChildren<QTableView *>()) {
        m_testers.push_back(std::make_unique<QAbstractItemModelTester>(table->model()));
        if (auto *proxy = qobject_cast<QSortFilterProxyModel *>(table->model()))
            m_testers.push_back(std::make_unique<QAbstractItemModelTester>(proxy->sourceModel()));
    }
}

} // namespace WindowDriver
