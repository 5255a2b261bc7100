#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>

// A program run to its end for a test (curl, openssl, tshark), while this
// thread's event loop keeps serving a proxy under test.
struct ToolRun
{
    int exitCode = -1; // -1: it did not start, did not end in time, or crashed
    QByteArray out;
    QByteArray err;

    // Runs program (looked up on PATH) with arguments, input on its
    // standard input, for at most timeoutMs; killed past that.
    static ToolRun run(const QString &program, const QStringList &arguments, const QByteArray &input = QByteArray(),
                       int timeoutMs = 30'000);
};
