#include "commandline.h"
#include "headlessrunner.h"

#include <QCoreApplication>

#include <cstdio>

int main(int argc, char *argv[])
{
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
    if (!commandLine.headless) {
        std::fprintf(stderr, "proxymon: this build has no monitor window yet; run it with --headless "
                             "(see 'proxymon --help').\n");
        return 2;
    }

    // Headless needs no display: a QCoreApplication loads no GUI plugin.
    // Qt's own poll() dispatcher costs less per accepted connection than the
    // GLib one, and nothing headless needs GLib's main loop.
    qputenv("QT_NO_GLIB", "1");
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("proxymon"));
    QCoreApplication::setApplicationVersion(QStringLiteral(PROXYMON_VERSION));
    HeadlessRunner runner(commandLine);
    QObject::connect(&runner, &HeadlessRunner::finished, &app, &QCoreApplication::exit);
    if (!runner.start())
        return 1;
    return app.exec();
}
