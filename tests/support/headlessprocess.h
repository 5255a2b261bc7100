#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QProcess>
#include <QStringList>

// The proxymon executable run headless, as a user or a script runs it, for
// the tests in tests/app: started with arguments and no display, its
// standard output read as JSONL, stopped with a signal. PROXYMON_BINARY is
// the executable (set by the build).
namespace HeadlessProcess {

// Starts proxymon and waits (10 s) for its "listening on" line; returns
// the port, or 0. What it wrote to stderr by then goes to *stderrSeen.
quint16 startProxy(QProcess &process, const QStringList &arguments, QByteArray *stderrSeen = nullptr);
// One object per line of a JSONL stream.
QList<QJsonObject> jsonLines(const QByteArray &bytes);
// Collects a channel's output into *seen until it contains needle.
bool waitForOutput(QProcess &process, QProcess::ProcessChannel channel, const QByteArray &needle, QByteArray *seen,
                   int timeoutMs = 5'000);
// The CPU time the process has used so far, user and system.
double cpuSeconds(qint64 pid);
// Waits for the first connection_closed event on standard output, stops
// proxymon with signalNumber and collects everything it wrote there.
bool stopAfterFirstClose(QProcess &process, int signalNumber, QByteArray *out);

} // namespace HeadlessProcess
