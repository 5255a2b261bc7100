#include "headlessprocess.h"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QTest>

#include <csignal>
#include <unistd.h>

namespace HeadlessProcess {

quint16 startProxy(QProcess &process, const QStringList &arguments, QByteArray *stderrSeen)
{
    process.setProgram(QStringLiteral(PROXYMON_BINARY));
    // No display of any kind: headless must not need one.
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    for (const char *name : {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"})
        environment.remove(QLatin1String(name));
    process.setProcessEnvironment(environment);
    process.setArguments(arguments);
    process.start();
    if (!process.waitForStarted(10'000))
        return 0;
    static const QRegularExpression listening(QStringLiteral("listening on (\\S+):(\\d+)(, forwarding to| as an HTTP proxy)"));
    QByteArray seen;
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < 10'000) {
        process.waitForReadyRead(100);
        seen += process.readAllStandardError();
        const QRegularExpressionMatch match = listening.match(QString::fromUtf8(seen));
        if (match.hasMatch()) {
            if (stderrSeen)
                *stderrSeen = seen;
            return quint16(match.captured(2).toUInt());
        }
        if (process.state() == QProcess::NotRunning)
            break;
    }
    if (stderrSeen)
        *stderrSeen = seen;
    return 0;
}

bool waitForOutput(QProcess &process, QProcess::ProcessChannel channel, const QByteArray &needle, QByteArray *seen,
                   int timeoutMs)
{
    return QTest::qWaitFor([&] {
        process.waitForReadyRead(50);
        *seen += channel == QProcess::StandardOutput ? process.readAllStandardOutput()
                                                     : process.readAllStandardError();
        return seen->contains(needle);
    }, timeoutMs);
}

QList<QJsonObject> jsonLines(const QByteArray &bytes)
{
    QList<QJsonObject> result;
    for (const QByteArray &line : bytes.split('\n')) {
        if (!line.isEmpty())
            result.append(QJsonDocument::fromJson(line).object());
    }
    return result;
}

bool stopAfterFirstClose(QProcess &process, int signalNumber, QByteArray *out)
{
    if (!waitForOutput(process, QProcess::StandardOutput, "connection_closed", out))
        return false;
    ::kill(pid_t(process.processId()), signalNumber);
    if (!process.waitForFinished(10'000))
        return false;
    *out += process.readAllStandardOutput();
    return true;
}

double cpuSeconds(qint64 pid)
{
    QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!stat.open(QIODevice::ReadOnly))
        return -1;
    const QByteArray text = stat.readAll();
    // Fields after the command name, which is in parentheses.
    const QList<QByteArray> fields = text.mid(text.lastIndexOf(')') + 2).split(' ');
    const double ticks = fields.value(11).toDouble() + fields.value(12).toDouble();
    return ticks / double(sysconf(_SC_CLK_TCK));
}

} // namespace HeadlessProcess
