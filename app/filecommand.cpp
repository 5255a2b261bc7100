#include "filecommand.h"

#include "captureexport.h"
#include "captureselection.h"
#include "capturesnapshot.h"
#include "commandline.h"
#include "curlcommand.h"
#include "harwriter.h"
#include "pcapngwriter.h"
#include "sessionreader.h"

#include <QFile>
#include <QSaveFile>

#include <cstdio>
#include <limits>

namespace {

void say(const QString &text)
{
    std::fprintf(stderr, "proxymon: %s\n", qPrintable(text));
}

// To a file that appears whole or not at all, or to standard output ("-").
bool writeTo(const QString &path, const std::function<CaptureExport::Counts(QIODevice *)> &write)
{
    if (path == u"-") {
        QFile out;
        if (!out.open(stdout, QIODevice::WriteOnly))
            return false;
        return write(&out).complete;
    }
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || !write(&file).complete || !file.commit()) {
        say(QStringLiteral("cannot write %1: %2").arg(path, file.errorString()));
        return false;
    }
    return true;
}

} // namespace

int FileCommand::run(const CommandLine &commandLine)
{
    const SessionReader::Result read = SessionReader::readFile(commandLine.openPath);
    if (!read.ok()) {
        say(QStringLiteral("cannot read %1: %2").arg(commandLine.openPath, read.error));
        return 1;
    }
    // Everything in the file is kept: its own size is the bound.
    CaptureStore store({std::numeric_limits<qsizetype>::max(), std::numeric_limits<qint64>::max()});
    store.add(read.records, read.exchanges);
    const CaptureSnapshot snapshot = CaptureSnapshot::take(store, CaptureSelection(CaptureFilter::parse(commandLine.filter)));

    if (!commandLine.harPath.isEmpty()
        && !writeTo(commandLine.harPath, [&](QIODevice *device) { return HarWriter::write(snapshot, device); }))
        return 1;
    if (!commandLine.pcapngPath.isEmpty()
        && !writeTo(commandLine.pcapngPath, [&](QIODevice *device) { return PcapngWriter::write(snapshot, device); }))
        return 1;
    if (!commandLine.jsonlPath.isEmpty() && !writeTo(commandLine.jsonlPath, [&](QIODevice *device) {
            return commandLine.bodies ? CaptureExport::toSession(snapshot, device)
                                      : CaptureExport::toJsonl(snapshot, device);
        }))
        return 1;
    if (commandLine.curl) {
        QByteArray commands;
        for (const CaptureSnapshot::Entry &entry : snapshot.entries) {
            for (const HttpExchange &exchange : entry.exchanges) {
                if (!CurlCommand::canBuild(exchange))
                    continue;
                commands += "# connection " + QByteArray::number(exchange.connectionId) + ", exchange "
                    + QByteArray::number(exchange.sequence) + '\n'
                    + CurlCommand::build(exchange, CurlCommand::Style::Faithful) + '\n';
            }
        }
        std::fwrite(commands.constData(), 1, size_t(commands.size()), stdout);
        std::fflush(stdout);
    }
    say(QStringLiteral("%1 (%2): %3 connections, %4 exchanges written")
            .arg(commandLine.openPath, read.kind)
            .arg(snapshot.entries.size())
            .arg(snapshot.exchangeCount));
    return 0;
}
