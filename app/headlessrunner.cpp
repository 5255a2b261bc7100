#include "headlessrunner.h"

#include "builtinecho.h"
#include "capturefilter.h"
#include "captureselection.h"
#include "capturesnapshot.h"
#include "harwriter.h"
#include "headlesscommands.h"
#include "pcapngwriter.h"
#include "jsonlwriter.h"
#include "proxyserver.h"
#include "signalwatcher.h"
#include "tlsinterception.h"

#include <QFileInfo>
#include <QSaveFile>
#include <QTimer>

#include <csignal>
#include <unistd.h>
#include <cstdio>
#include <tuple>

namespace {

void say(const QString &text)
{
    std::fprintf(stderr, "proxymon: %s\n", qPrintable(text));
    std::fflush(stderr);
}

} // namespace

HeadlessRunner::HeadlessRunner(const CommandLine &commandLine, QObject *parent)
    : QObject(parent)
    , m_commandLine(commandLine)
{
}

HeadlessRunner::~HeadlessRunner() = default;

bool HeadlessRunner::start()
{
    const QString path = m_commandLine.jsonlPath;
    if (path == u"-") {
        if (!m_jsonlFile.open(stdout, QIODevice::WriteOnly | QIODevice::Unbuffered)) {
            say(QStringLiteral("cannot write JSONL to standard output"));
            return false;
        }
    } else if (!path.isEmpty()) {
        m_jsonlFile.setFileName(path);
        if (!m_jsonlFile.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
            say(QStringLiteral("cannot write JSONL to %1: %2").arg(path, m_jsonlFile.errorString()));
            return false;
        }
    }
    if (m_jsonlFile.isOpen()) {
        m_jsonl = std::make_unique<JsonlWriter>(&m_jsonlFile);
        m_jsonl->setFilter(CaptureFilter::parse(m_commandLine.filter));
        m_jsonl->setBodies(m_commandLine.bodies);
        m_jsonl->setSampling(m_commandLine.jsonlSamplesMs > 0);
        if (m_commandLine.jsonlSamplesMs > 0) {
            auto *samples = new QTimer(this);
            samples->setInterval(m_commandLine.jsonlSamplesMs);
            connect(samples, &QTimer::timeout, this, [this] {
                if (m_jsonl)
                    m_jsonl->writeSamples();
            });
            samples->start();
        }
    }
    for (const auto &[kind, path] : {std::pair{"HAR", m_commandLine.harPath}, std::pair{"pcapng", m_commandLine.pcapngPath}}) {
        if (path.isEmpty())
            continue;
        // Said now rather than after an hour of capture.
        const QFileInfo file(path);
        const QFileInfo directory(file.absolutePath());
        if (!directory.isDir() || !directory.isWritable() || (file.exists() && !file.isWritable())) {
            say(QStringLiteral("cannot write %1 to %2: %3")
                    .arg(QLatin1String(kind), path,
                         directory.isDir() ? QStringLiteral("not writable") : QStringLiteral("no such directory")));
            return false;
        }
        if (!m_stopStore)
            m_stopStore = std::make_unique<CaptureStore>();
    }

    m_server = new ProxyServer(this);
    m_server->setEchoStarter(BuiltinEcho::starter());
    m_signals = new SignalWatcher(this);
    connect(m_signals, &SignalWatcher::received, this, &HeadlessRunner::onSignal);
    if (m_commandLine.commands) {
        m_commands = new HeadlessCommands(m_server, this);
        connect(m_commands, &HeadlessCommands::answered, this, [](const QString &text) { say(text); });
    }
    connect(m_server, &ProxyServer::published, this,
            [this](const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges) {
                if (m_commands)
                    m_commands->track(records);
                if (m_jsonl)
                    m_jsonl->writeBatch(records, exchanges);
                if (m_stopStore)
                    m_stopStore->add(records, exchanges);
            });
    connect(m_server, &ProxyServer::notice, this, [this](const QString &message) {
        say(message);
        if (m_jsonl)
            m_jsonl->writeNotice(message);
    });
    // A client that rejected proxymon's certificate: its host passes
    // through from now on, which the terminal should say once.
    connect(m_server, &ProxyServer::interceptionChanged, this, [this] {
        for (const TlsInterception::Rejection &rejection : m_server->interception().rejections()) {
            if (m_toldRejections.contains(rejection.host))
                continue;
            m_toldRejections.insert(rejection.host);
            const QString message = QStringLiteral("%1; connections to %2 now pass through undecrypted")
                                        .arg(rejection.why, rejection.host);
            say(message);
            if (m_jsonl)
                m_jsonl->writeNotice(message);
        }
    });
    connect(m_server, &ProxyServer::stopped, this, [this] {
        say(QStringLiteral("stopped after %1 connections").arg(m_server->acceptedConnections()));
        finish(0);
    });

    if (!m_server->start(m_commandLine.config)) {
        say(m_server->errorString());
        return false;
    }
    const ProxyConfig config = m_server->config();
    if (!config.listensOnLoopbackOnly()) {
        say(QStringLiteral("WARNING: listening on %1, which other machines can reach; "
                           "anyone who can connect can use this proxy")
                .arg(config.listenText()));
    }
    if (config.mode == ProxyConfig::Mode::HttpProxy)
        say(QStringLiteral("listening on %1 as an HTTP proxy (http_proxy=http://%1)").arg(config.listenText()));
    else
        say(QStringLiteral("listening on %1, forwarding to %2").arg(config.listenText(), config.targetText()));
    if (m_jsonl)
        m_jsonl->writeListening(config.listenerInfo());
    if (m_commands) {
        m_commands->listen(STDIN_FILENO);
        say(QStringLiteral("reading commands from standard input (help lists them)"));
    }
    return true;
}

void HeadlessRunner::onSignal(int signalNumber)
{
    if (signalNumber == SIGHUP) {
        reloadRules();
        return;
    }
    if (++m_signalsSeen == 1) {
        say(QStringLiteral("signal %1: stopping (live connections get %2 ms)")
                .arg(signalNumber)
                .arg(m_commandLine.config.stopGraceMs));
        m_server->stop();
        return;
    }
    // A second signal: do not wait out the grace.
    say(QStringLiteral("signal %1 again: closing all connections now").arg(signalNumber));
    delete m_server;
    m_server = nullptr;
    finish(1);
}

void HeadlessRunner::reloadRules()
{
    if (!m_server)
        return;
    if (m_commandLine.rulesPath.isEmpty()) {
        say(QStringLiteral("SIGHUP: no --rules file to reload"));
        return;
    }
    RuleSet loaded;
    QString why;
    if (!RuleSet::load(m_commandLine.rulesPath, &loaded, &why)) {
        // A bad edit keeps what runs.
        const QString message = QStringLiteral("--rules %1; the rules in force are kept").arg(why);
        say(message);
        if (m_jsonl)
            m_jsonl->writeNotice(message);
        return;
    }
    RuleSet rules = m_commandLine.optionRules;
    rules.append(loaded);
    m_server->setRules(rules);
    const QString message = QStringLiteral("rules reloaded from %1: %2 condition(s), %3 fault(s)")
                                .arg(m_commandLine.rulesPath)
                                .arg(rules.conditions.size())
                                .arg(rules.faults.size());
    say(message);
    if (m_jsonl)
        m_jsonl->writeNotice(message);
}

void HeadlessRunner::finish(int exitCode)
{
    if (m_jsonl)
        m_jsonl->writeStopped();
    m_jsonlFile.close();
    if (m_stopStore && !writeAtStop() && exitCode == 0)
        exitCode = 1;
    emit finished(exitCode);
}

bool HeadlessRunner::writeAtStop()
{
    const CaptureSelection selection(CaptureFilter::parse(m_commandLine.filter));
    const CaptureSnapshot snapshot = CaptureSnapshot::take(*m_stopStore, selection);
    const CaptureStore::Stats &stats = m_stopStore->stats();
    QString note;
    if (stats.evictedConnections || stats.evictedExchanges)
        note = QStringLiteral(" (the oldest %1 connections and %2 exchanges did not fit and are not in it)")
                   .arg(stats.evictedConnections)
                   .arg(stats.evictedExchanges);
    bool ok = true;
    using Writer = CaptureExport::Counts (*)(const CaptureSnapshot &, QIODevice *, const CaptureExport::Progress &);
    for (const auto &[kind, path, writer] : {std::tuple{"HAR", m_commandLine.harPath, Writer(&HarWriter::write)},
                                             std::tuple{"pcapng", m_commandLine.pcapngPath, Writer(&PcapngWriter::write)}}) {
        if (path.isEmpty())
            continue;
        QSaveFile file(path);
        if (!file.open(QIODevice::WriteOnly) || !writer(snapshot, &file, {}).complete || !file.commit()) {
            say(QStringLiteral("cannot write %1 to %2: %3").arg(QLatin1String(kind), path, file.errorString()));
            ok = false;
            continue;
        }
        say(QStringLiteral("wrote %1 connections, %2 exchanges to %3%4")
                .arg(snapshot.entries.size())
                .arg(snapshot.exchangeCount)
                .arg(path, note));
    }
    return ok;
}
