#pragma once

#include "capturestore.h"
#include "commandline.h"

#include <QFile>
#include <QObject>
#include <QSet>

#include <memory>

class HeadlessCommands;
class JsonlWriter;
class ProxyServer;
class SignalWatcher;

// Runs the engine without a window: a status line on stderr, events as JSON
// Lines, and an orderly stop on SIGINT or SIGTERM.
class HeadlessRunner : public QObject
{
    Q_OBJECT
public:
    explicit HeadlessRunner(const CommandLine &commandLine, QObject *parent = nullptr);
    ~HeadlessRunner() override;

    // Starts the proxy; on failure prints why and returns false.
    bool start();

signals:
    // The proxy has stopped and all output is flushed.
    void finished(int exitCode);

private:
    void onSignal(int signalNumber);
    // SIGHUP: the --rules file again, after the options' rules.
    void reloadRules();
    // The --har and --pcapng files from what the store holds; false when
    // one cannot be written.
    bool writeAtStop();
    void finish(int exitCode);

    CommandLine m_commandLine;
    QFile m_jsonlFile;
    std::unique_ptr<JsonlWriter> m_jsonl;
    std::unique_ptr<CaptureStore> m_stopStore; // --har, --pcapng: what the files will hold
    QSet<QString> m_toldRejections;
    ProxyServer *m_server = nullptr;
    SignalWatcher *m_signals = nullptr;
    HeadlessCommands *m_commands = nullptr; // --commands
    int m_signalsSeen = 0;
};
