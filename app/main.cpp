#include "cacommand.h"
#include "commandline.h"
#include "filecommand.h"
#include "headlessrunner.h"
#include "capturefiles.h"
#include "mainwindow.h"
#include "networkpreset.h"

#include <QApplication>
#include <QCoreApplication>

#include <malloc.h>

#include <cstdio>

namespace {

void tuneAllocator()
{
    // The capture allocates a body prefix of up to --body-prefix (1 MiB) per
    // exchange on a worker and frees it on the main thread moments later.
    // By default glibc maps blocks that large fresh from the kernel and
    // trims freed memory back to it, so every body faulted its pages in
    // again: 12-18% of a worker's time on 1 MiB downloads. Served from the
    // arenas and kept there, the pages are reused while traffic lasts;
    // once the workers have been quiet for a second the server gives them
    // back (HeapTrim).
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);
    // One arena for every thread: by default each worker gets its own, and
    // what it allocates for a batch (records, exchanges) is freed on the
    // main thread into that arena, where it lies between the connections
    // allocated since. Shared, the free space serves every thread: 5,000
    // idle connections took 3.0-3.3 KiB each with an arena per worker,
    // 2.6-2.8 with one. Small blocks still come from each thread's cache
    // without the lock.
    mallopt(M_ARENA_MAX, 1);
}

void nameApplication()
{
    QCoreApplication::setOrganizationName(QStringLiteral("proxymon"));
    QCoreApplication::setApplicationName(QStringLiteral("proxymon"));
    QCoreApplication::setApplicationVersion(QStringLiteral(PROXYMON_VERSION));
}

int runHeadless(int argc, char *argv[], const CommandLine &commandLine)
{
    // Headless needs no display: a QCoreApplication loads no GUI plugin.
    // Qt's own poll() dispatcher costs less per accepted connection than the
    // GLib one, and nothing headless needs GLib's main loop.
    qputenv("QT_NO_GLIB", "1");
    QCoreApplication app(argc, argv);
    nameApplication();
    HeadlessRunner runner(commandLine);
    QObject::connect(&runner, &HeadlessRunner::finished, &app, &QCoreApplication::exit);
    if (!runner.start())
        return 1;
    return app.exec();
}

int runWindow(int argc, char *argv[], const CommandLine &commandLine)
{
    // Qt would abort with a note about plugins; say what to do instead.
    if (qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY")
        && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) {
        std::fprintf(stderr, "proxymon: no display to open the window on (DISPLAY is not set); "
                             "run it with --headless to use it from a terminal (see 'proxymon --help').\n");
        return 2;
    }
    QApplication app(argc, argv);
    nameApplication();
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/proxymon/icons/proxymon.svg")));
    QApplication::setDesktopFileName(QStringLiteral("proxymon"));
    MainWindow window(commandLine.config);
    window.show();
    if (!commandLine.openPath.isEmpty()) {
        // Refused files say why in the window's banner.
        window.files()->open(commandLine.openPath, false);
        return app.exec();
    }
    // Given a target (or the proxy mode) on the command line, start at
    // once, as headless does.
    if (!commandLine.config.targetHost.isEmpty() || commandLine.config.mode == ProxyConfig::Mode::HttpProxy)
        window.startProxy();
    return app.exec();
}

} // namespace

int main(int argc, char *argv[])
{
    tuneAllocator();
    QStringList arguments;
    for (int i = 0; i < argc; ++i)
        arguments.append(QString::fromLocal8Bit(argv[i]));
    const CommandLine commandLine = CommandLine::parse(arguments);

    if (commandLine.helpRequested) {
        std::fputs(qPrintable(commandLine.helpText), stdout);
        return 0;
    }
    if (commandLine.versionRequested) {
        std::printf("proxymon %s\n", PROXYMON_VERSION);
        return 0;
    }
    if (!commandLine.error.isEmpty()) {
        std::fprintf(stderr, "proxymon: %s\nTry 'proxymon --help'.\n", qPrintable(commandLine.error));
        return 2;
    }
    if (commandLine.presetsRequested) {
        for (const NetworkPreset &preset : NetworkPreset::all())
            std::printf("%s\n", qPrintable(preset.describe()));
        return 0;
    }
    if (commandLine.caRequested) {
        QCoreApplication app(argc, argv);
        nameApplication();
        return CaCommand::run(commandLine);
    }
    if (commandLine.headless && !commandLine.openPath.isEmpty()) {
        QCoreApplication app(argc, argv);
        nameApplication();
        return FileCommand::run(commandLine);
    }
    return commandLine.headless ? runHeadless(argc, argv, commandLine) : runWindow(argc, argv, commandLine);
}
