#include "toolrun.h"

#include <QProcess>
#include <QStandardPaths>
#include <QTest>

ToolRun ToolRun::run(const QString &program, const QStringList &arguments, const QByteArray &input, int timeoutMs)
{
    ToolRun result;
    QProcess process;
    process.start(QStandardPaths::findExecutable(program), arguments);
    if (!process.waitForStarted(10'000))
        return result;
    process.write(input);
    process.closeWriteChannel();
    if (!QTest::qWaitFor([&] { return process.state() == QProcess::NotRunning; }, timeoutMs)) {
        process.kill();
        process.waitForFinished(5'000);
        return result;
    }
    result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    result.out = process.readAllStandardOutput();
    result.err = process.readAllStandardError();
    return result;
}
