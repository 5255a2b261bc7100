#pragma once

#include <QAbstractItemModelTester>
#include <QByteArray>
#include <QString>

#include <memory>
#include <vector>

class MainWindow;
class QTableView;
class QTemporaryDir;

// Drives the real window as a user does, for the tests in tests/ui: its
// actions pressed through their toolbar buttons, its fields typed into,
// its tables and labels read. One set of these for every window test.
namespace WindowDriver {

// Settings and the certificate authority's data go to dir, under the
// application name given.
void isolate(const QTemporaryDir &dir, const QString &application);
// Presses the action named actionName: through its toolbar button when
// one shows, as a user would, else triggered.
void press(MainWindow &window, const char *actionName);
QTableView *view(MainWindow &window, const char *name);
QString cell(QTableView *view, int row, int column);
// The text of the label named name, or empty when it is hidden.
QString label(MainWindow &window, const char *name);
// Types 127.0.0.1:0 and the target into the fields and presses Start.
void typeAndStart(MainWindow &window, quint16 targetPort);
// Starts through the window's own setters (the command line's way).
void startOn(MainWindow &window, quint16 targetPort);

// Checks every table model of a window (and the model under each proxy)
// with QAbstractItemModelTester for as long as it lives.
class ModelTesters
{
public:
    void attach(MainWindow &window);
    void clear() { m_testers.clear(); }

private:
    std::vector<std::unique_ptr<QAbstractItemModelTester>> m_testers;
};

} // namespace WindowDriver
