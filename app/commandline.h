#pragma once

#include "proxyconfig.h"

#include <QString>
#include <QStringList>

// What the user asked for on the command line.
struct CommandLine
{
    bool headless = false;
    bool helpRequested = false;
    bool versionRequested = false;
    bool caRequested = false;  // --ca: say where proxymon's CA is and how to trust it
    bool caReplace = false;    // --ca-replace: make a new one first
    bool presetsRequested = false; // --preset list: name the presets and exit
    QString rulesPath;         // --rules FILE: conditions and faults, reloaded on SIGHUP
    bool commands = false;     // --commands: act on live connections by commands on standard input
    RuleSet optionRules;       // the --preset, --condition and --fault rules, kept at a reload
    QString caExportPath;      // --ca-export FILE: save it there (DER for .der/.cer)
    QString caDirectory;       // --ca-dir DIR: where the CA lives (empty: the data directory)
    ProxyConfig config;
    QString jsonlPath; // empty: none; "-": standard output
    int jsonlSamplesMs = 0; // --jsonl-samples D: a rate sample of every live connection this often (0: none)
    bool bodies = false; // --bodies: the JSONL stream carries heads' and bodies' bytes (a session)
    QString harPath;   // --har FILE: the capture as HAR, written when the proxy stops
    QString pcapngPath; // --pcapng FILE: the same as pcapng
    QString filter;    // the window's filter language, applied to the JSONL stream and the HAR
    QString openPath;  // a session, JSONL or HAR file: the window opens it, headless writes it out again
    bool curl = false; // --curl: headless with a FILE, a curl command per exchange on standard output
    QString helpText;
    QString error;     // set when the arguments cannot be used

    // Parses arguments (argv[0] first). Never exits the process.
    static CommandLine parse(const QStringList &arguments);

    // "250ms", "10s", "2m", "1h"; a bare number means seconds.
    static bool parseDuration(const QString &text, int *milliseconds);
    // "65536", "64K", "1M".
    static bool parseSize(const QString &text, int *bytes);
};
