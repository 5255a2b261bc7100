#include "commandline.h"

#include "capturefilter.h"
#include "networkpreset.h"

#include <QCommandLineOption>
#include <QCommandLineParser>
#include <QRegularExpression>

bool CommandLine::parseDuration(const QString &text, int *milliseconds)
{
    static const QRegularExpression pattern(QStringLiteral("^\\s*(\\d+)\\s*(ms|s|m|h)?\\s*$"));
    const QRegularExpressionMatch match = pattern.match(text);
    if (!match.hasMatch())
        return false;
    bool ok = false;
    const qint64 value = match.captured(1).toLongLong(&ok);
    const QString unit = match.captured(2);
    qint64 factor = 1000;
    if (unit == u"ms")
        factor = 1;
    else if (unit == u"m")
        factor = 60'000;
    else if (unit == u"h")
        factor = 3'600'000;
    const qint64 result = value * factor;
    if (!ok || result <= 0 || result > std::numeric_limits<int>::max())
        return false;
    *milliseconds = int(result);
    return true;
}

bool CommandLine::parseSize(const QString &text, int *bytes)
{
    static const QRegularExpression pattern(QStringLiteral("^\\s*(\\d+)\\s*([kKmM]i?[bB]?)?\\s*$"));
    const QRegularExpressionMatch match = pattern.match(text);
    if (!match.hasMatch())
        return false;
    bool ok = false;
    qint64 value = match.captured(1).toLongLong(&ok);
    const QString unit = match.captured(2).toLower();
    if (unit.startsWith(u'k'))
        value *= 1024;
    else if (unit.startsWith(u'm'))
        value *= 1024 * 1024;
    if (!ok || value <= 0 || value > (1 << 30))
        return false;
    *bytes = int(value);
    return true;
}

CommandLine CommandLine::parse(const QStringList &arguments)
{
    CommandLine result;
    const ProxyConfig defaults;

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "proxymon: a TCP proxy that shows every connection passing through it.\n"
        "Point a client at the listen address; proxymon forwards to the target."));
    const QCommandLineOption help({QStringLiteral("h"), QStringLiteral("help")}, QStringLiteral("Show this help and exit."));
    const QCommandLineOption version(QStringLiteral("version"), QStringLiteral("Show the version and exit."));
    const QCommandLineOption headless(QStringLiteral("headless"),
        QStringLiteral("Run without a window, reporting on the terminal."));
    const QCommandLineOption listen(QStringLiteral("listen"),
        QStringLiteral("Address to listen on (default 127.0.0.1:8080). Port 0 picks a free port."),
        QStringLiteral("ADDR:PORT"), QStringLiteral("127.0.0.1:8080"));
    const QCommandLineOption target(QStringLiteral("target"),
        QStringLiteral("Where to forward connections: HOST:PORT; tls:HOST:PORT to speak TLS to it (clients "
                       "speak plain TCP, and their HTTP shows); or builtin:echo for the built-in echo server."),
        QStringLiteral("HOST:PORT"));
    const QCommandLineOption mode(QStringLiteral("mode"),
        QStringLiteral("forward (default): every connection goes to --target. http-proxy: a standard HTTP "
                       "proxy (curl -x, http_proxy=); each request names its host, CONNECT opens tunnels."),
        QStringLiteral("MODE"));
    const QCommandLineOption allow(QStringLiteral("allow"),
        QStringLiteral("Accept clients only from these addresses (ADDR or ADDR/PREFIX, comma-separated or "
                       "repeated). Required for an HTTP proxy listening beyond loopback."),
        QStringLiteral("ADDRS"));
    const QCommandLineOption jsonl(QStringLiteral("jsonl"),
        QStringLiteral("Write one JSON object per event to FILE, or to standard output with -."),
        QStringLiteral("FILE|-"));
    const QCommandLineOption jsonlSamples(QStringLiteral("jsonl-samples"),
        QStringLiteral("Add a connection_sample line for every live connection this often (bytes and rate each way "
                       "since the last sample), e.g. 1s."),
        QStringLiteral("DURATION"));
    const QCommandLineOption bodies(QStringLiteral("bodies"),
        QStringLiteral("Put heads' raw bytes and the bodies kept (--body-prefix, 1M by default with this) in the "
                       "JSONL stream, exactly (base64 where not text): the window opens such a file as it was."));
    const QCommandLineOption har(QStringLiteral("har"),
        QStringLiteral("When the proxy stops, write the capture (the last 10,000 connections, 256M of bytes) to "
                       "FILE as HAR 1.2, for browser devtools and HAR viewers."),
        QStringLiteral("FILE"));
    const QCommandLineOption pcapng(QStringLiteral("pcapng"),
        QStringLiteral("When the proxy stops, write the capture's connections to FILE as pcapng for Wireshark "
                       "(both legs; TCP synthesized around the recorded bytes)."),
        QStringLiteral("FILE"));
    const QCommandLineOption curl(QStringLiteral("curl"),
        QStringLiteral("With --headless FILE: print a curl command for each exchange in FILE (see Copy as curl)."));
    const QCommandLineOption allowRemote(QStringLiteral("allow-remote"),
        QStringLiteral("Allow a listen address other than loopback (other machines can then use the proxy)."));
    const QCommandLineOption buffer(QStringLiteral("buffer"),
        QStringLiteral("Most bytes held per direction of a connection (default 256K)."), QStringLiteral("SIZE"));
    const QCommandLineOption connectTimeout(QStringLiteral("connect-timeout"),
        QStringLiteral("Give up reaching the target after this long (default 10s)."), QStringLiteral("DURATION"));
    const QCommandLineOption idleTimeout(QStringLiteral("idle-timeout"),
        QStringLiteral("Close a connection with no traffic for this long (default 1h)."), QStringLiteral("DURATION"));
    const QCommandLineOption halfCloseTimeout(QStringLiteral("half-close-timeout"),
        QStringLiteral("Close a half-closed connection with no traffic for this long (default 60s)."),
        QStringLiteral("DURATION"));
    const QCommandLineOption stopGrace(QStringLiteral("stop-grace"),
        QStringLiteral("On stop, let live connections finish for this long (default 1s)."), QStringLiteral("DURATION"));
    const QCommandLineOption maxConnections(QStringLiteral("max-connections"),
        QStringLiteral("Concurrent connections before accepting pauses (default: (descriptor limit - 64) / 2)."),
        QStringLiteral("N"));
    const QCommandLineOption workers(QStringLiteral("workers"),
        QStringLiteral("Relay threads (default: one per core)."), QStringLiteral("N"));
    const QCommandLineOption backlog(QStringLiteral("backlog"),
        QStringLiteral("Listen backlog (default 4096)."), QStringLiteral("N"));
    const QCommandLineOption noCapture(QStringLiteral("no-capture"),
        QStringLiteral("Only forward and count bytes; do not follow HTTP."));
    const QCommandLineOption bodyPrefix(QStringLiteral("body-prefix"),
        QStringLiteral("Bytes of each HTTP body kept for viewing (default 1M in the window; none headless, "
                       "whose stream carries no bodies)."), QStringLiteral("SIZE"));
    const QCommandLineOption rawPrefix(QStringLiteral("raw-prefix"),
        QStringLiteral("Bytes kept each way of a connection that is not HTTP, with the reads that brought them, for "
                       "its conversation view (default 64K)."), QStringLiteral("SIZE"));
    const QCommandLineOption via(QStringLiteral("via"),
        QStringLiteral("HTTP proxy mode: add a Via header naming proxymon to forwarded requests (off by default: "
                       "servers answer a proxy differently, e.g. nginx stops compressing)."));
    const QCommandLineOption upstreamCa(QStringLiteral("upstream-ca"),
        QStringLiteral("Trust the certificates in FILE (PEM), beside the system's, when speaking TLS to upstreams."),
        QStringLiteral("FILE"));
    const QCommandLineOption insecure(QStringLiteral("insecure"),
        QStringLiteral("Speak TLS to upstreams without checking their certificates (expired, wrong name, "
                       "unknown issuer) or protocol version."));
    const QCommandLineOption keyLog(QStringLiteral("keylog"),
        QStringLiteral("Append the secrets of the TLS sessions proxymon speaks to FILE, in the NSS key log format "
                       "(SSLKEYLOGFILE), so Wireshark can decrypt a capture of them. Anyone who reads FILE can too."),
        QStringLiteral("FILE"));
    const QCommandLineOption noDecrypt(QStringLiteral("no-decrypt"),
        QStringLiteral("Relay TLS unread: do not end clients' TLS with proxymon's certificates."));
    const QCommandLineOption passthrough(QStringLiteral("passthrough"),
        QStringLiteral("Never decrypt connections to these hosts (comma-separated or repeated; *.example.com "
                       "also covers its subdomains): their TLS is relayed unread."),
        QStringLiteral("HOSTS"));
    const QCommandLineOption insecureHost(QStringLiteral("insecure-host"),
        QStringLiteral("Like --insecure, for these upstream hosts only (comma-separated or repeated)."),
        QStringLiteral("HOSTS"));
    const QCommandLineOption caDirectory(QStringLiteral("ca-dir"),
        QStringLiteral("Keep proxymon's certificate authority in DIR instead of the data directory."),
        QStringLiteral("DIR"));
    const QCommandLineOption ca(QStringLiteral("ca"),
        QStringLiteral("Show where proxymon's certificate authority is (making it on first use) and how to make "
                       "clients trust it, then exit."));
    const QCommandLineOption caExport(QStringLiteral("ca-export"),
        QStringLiteral("With --ca: also save its certificate to FILE (DER for .der and .cer, else PEM)."),
        QStringLiteral("FILE"));
    const QCommandLineOption caReplace(QStringLiteral("ca-replace"),
        QStringLiteral("With --ca: replace the authority with a new one (every client must then trust the new one)."));
    const QCommandLineOption filter(QStringLiteral("filter"),
        QStringLiteral("Write only matching connections and exchanges to the JSONL stream, in the window's "
                       "filter language: words, host: status: method: client: state: is:, -term."),
        QStringLiteral("EXPR"));
    const QCommandLineOption condition(QStringLiteral("condition"),
        QStringLiteral("Network conditions for the connections (repeatable): DIR:SETTING=VALUE,... with DIR up, "
                       "down or both; settings latency, jitter, bandwidth (1MB/s, 2Mbit/s), burst, shared (one "
                       "bandwidth for all connections), slice, slice-variation, slice-delay, connect-delay, "
                       "client (ADDR or ADDR/PREFIX, ; between several), probability (drawn once per connection)."),
        QStringLiteral("RULE"));
    const QCommandLineOption preset(QStringLiteral("preset"),
        QStringLiteral("A browser's throttling preset, by its name: Chrome's \"3G\", \"Slow 4G\", \"Fast 4G\"; "
                       "Firefox's \"GPRS\" ... \"Wi-Fi\" (--preset list shows them all)."),
        QStringLiteral("NAME"));
    const QCommandLineOption fault(QStringLiteral("fault"),
        QStringLiteral("A fault that fires by itself (repeatable): KIND[:SETTING=VALUE,...] with KIND reset (side=), "
                       "close, half-close (toward=client|upstream), stall or blackhole (dir=up|down|both, for=DURATION), "
                       "limit (dir=, bytes=N, then=close|reset|half-close), refuse (for=, after=: no new connections "
                       "for a while); when: after=DURATION, after-up=N or "
                       "after-down=N bytes, on=first-data (default: at the accept); whom: client=ADDR/PREFIX, "
                       "probability=P (drawn once per connection). HTTP faults: status (code=NNN: answer instead "
                       "of the upstream), delay-head (delay=), cut-body (bytes=N, then=close|reset), no-response; for "
                       "the requests matching method=, host=, path=REGEX, header=NAME[:REGEX], first=N or every=N "
                       "(probability drawn per request)."),
        QStringLiteral("RULE"));
    const QCommandLineOption rules(QStringLiteral("rules"),
        QStringLiteral("Conditions and faults from a JSON file ({\"preset\": NAME, \"conditions\": [RULE...], "
                       "\"faults\": [RULE...]}), after the options'; headless, SIGHUP reloads it."),
        QStringLiteral("FILE"));
    const QCommandLineOption commands(QStringLiteral("commands"),
        QStringLiteral("Headless: read commands from standard input, one per line, answered on standard error: "
                       "list (the live connections), act ID FAULT (reset:side=client, half-close:toward=upstream, "
                       "stall:dir=up,for=2s, resume:dir=up, ...), throttle ID CONDITION|off, help."));
    parser.addOptions({help, version, headless, listen, target, mode, allow, jsonl, jsonlSamples, bodies, har, pcapng, curl, allowRemote, buffer, connectTimeout,
                       idleTimeout, halfCloseTimeout, stopGrace, maxConnections, workers, backlog, noCapture, via,
                       bodyPrefix, rawPrefix, upstreamCa, insecure, keyLog, noDecrypt, passthrough, insecureHost, caDirectory,
                       ca, caExport, caReplace, filter, condition, preset, fault, rules, commands});
    parser.addPositionalArgument(QStringLiteral("FILE"),
                                 QStringLiteral("A saved session, a JSONL stream or a HAR file to open in the window."),
                                 QStringLiteral("[FILE]"));
    result.helpText = parser.helpText() + QStringLiteral(
        "\nDurations take a unit: 500ms, 10s, 2m, 1h (a bare number is seconds).\n"
        "Sizes take K or M: 64K, 1M.\n"
        "SIGINT or SIGTERM stops the proxy: live connections get the stop grace, then output is flushed.\n");

    if (!parser.parse(arguments)) {
        result.error = parser.errorText();
        return result;
    }
    result.helpRequested = parser.isSet(help);
    result.versionRequested = parser.isSet(version);
    // One FILE: a capture for the window to open, or headless to write out.
    if (parser.positionalArguments().size() > 1) {
        result.error = QStringLiteral("unexpected argument '%1'").arg(parser.positionalArguments().last());
        return result;
    }
    result.openPath = parser.positionalArguments().value(0);
    result.curl = parser.isSet(curl);
    if (parser.isSet(headless) && !result.openPath.isEmpty()) {
        // No proxy then: the file is read and written out as asked.
        result.headless = true;
        result.harPath = parser.value(har);
        result.pcapngPath = parser.value(pcapng);
        result.jsonlPath = parser.value(jsonl);
        result.bodies = parser.isSet(bodies);
        result.filter = parser.value(filter);
        QString filterError;
        CaptureFilter::parse(result.filter, &filterError);
        if (!filterError.isEmpty())
            result.error = QStringLiteral("--filter: %1").arg(filterError);
        else if (result.harPath.isEmpty() && result.pcapngPath.isEmpty() && result.jsonlPath.isEmpty() && !result.curl)
            result.error = QStringLiteral("with a FILE, say what to write: --har FILE, --pcapng FILE, --jsonl FILE|- or --curl");
        return result;
    }
    if (result.curl) {
        result.error = QStringLiteral("--curl goes with --headless FILE");
        return result;
    }
    result.headless = parser.isSet(headless);
    if (result.helpRequested || result.versionRequested)
        return result;
    result.caRequested = parser.isSet(ca) || parser.isSet(caExport) || parser.isSet(caReplace);
    result.caReplace = parser.isSet(caReplace);
    result.caExportPath = parser.value(caExport);
    result.caDirectory = parser.value(caDirectory);
    if (result.caRequested)
        return result; // nothing else matters: it prints and exits
    if (parser.value(preset) == u"list") {
        result.presetsRequested = true;
        return result;
    }

    ProxyConfig &config = result.config;
    QString error;
    if (!config.setListen(parser.value(listen), &error)) {
        result.error = QStringLiteral("--listen: %1").arg(error);
        return result;
    }
    config.allowNonLoopback = parser.isSet(allowRemote);
    result.commands = parser.isSet(commands);
    if (result.commands && !result.headless) {
        result.error = QStringLiteral("--commands goes with --headless: the window has the row menu");
        return result;
    }

    if (parser.isSet(mode) && !config.setMode(parser.value(mode), &error)) {
        result.error = QStringLiteral("--mode: %1").arg(error);
        return result;
    }
    if (parser.isSet(allow) && !config.setAllowedClients(parser.values(allow).join(u','), &error)) {
        result.error = QStringLiteral("--allow: %1").arg(error);
        return result;
    }
    const bool proxyMode = config.mode == ProxyConfig::Mode::HttpProxy;
    if (proxyMode && parser.isSet(target)) {
        result.error = QStringLiteral("--target does not go with --mode http-proxy: each request names its host");
        return result;
    }
    if (parser.isSet(target)) {
        if (!config.setTarget(parser.value(target), &error)) {
            result.error = QStringLiteral("--target: %1").arg(error);
            return result;
        }
    } else if (result.headless && !proxyMode) {
        result.error = QStringLiteral("--target HOST:PORT is required");
        return result;
    }

    struct DurationOption { const QCommandLineOption *option; int *value; };
    for (const DurationOption &d : {DurationOption{&connectTimeout, &config.connectTimeoutMs},
                                    DurationOption{&idleTimeout, &config.idleTimeoutMs},
                                    DurationOption{&halfCloseTimeout, &config.halfCloseTimeoutMs},
                                    DurationOption{&stopGrace, &config.stopGraceMs},
                                    DurationOption{&jsonlSamples, &result.jsonlSamplesMs}}) {
        if (parser.isSet(*d.option) && !parseDuration(parser.value(*d.option), d.value)) {
            result.error = QStringLiteral("--%1: '%2' is not a duration such as 500ms, 10s, 2m or 1h")
                               .arg(d.option->names().first(), parser.value(*d.option));
            return result;
        }
    }
    struct SizeOption { const QCommandLineOption *option; int *value; };
    for (const SizeOption &z : {SizeOption{&buffer, &config.bufferBytes}, SizeOption{&bodyPrefix, &config.bodyPrefixBytes},
                                SizeOption{&rawPrefix, &config.rawPrefixBytes}}) {
        if (parser.isSet(*z.option) && !parseSize(parser.value(*z.option), z.value)) {
            result.error = QStringLiteral("--%1: '%2' is not a size such as 64K or 1M")
                               .arg(z.option->names().first(), parser.value(*z.option));
            return result;
        }
    }
    // Nothing headless shows a body: keeping one would copy every body
    // byte for nobody (the relay then splices bodies without reading them).
    result.bodies = parser.isSet(bodies);
    result.harPath = parser.value(har);
    result.pcapngPath = parser.value(pcapng);
    // Headless keeps no bodies unless something will write them.
    if (result.headless && !parser.isSet(bodyPrefix) && !result.bodies && result.harPath.isEmpty()
        && result.pcapngPath.isEmpty())
        config.bodyPrefixBytes = 0;
    config.capture = !parser.isSet(noCapture);
    config.addVia = parser.isSet(via);
    if (config.addVia && !proxyMode) {
        result.error = QStringLiteral("--via goes with --mode http-proxy");
        return result;
    }
    config.upstreamCaFile = parser.value(upstreamCa);
    config.insecureUpstream = parser.isSet(insecure);
    config.keyLogFile = parser.value(keyLog);
    config.decrypt = !parser.isSet(noDecrypt);
    config.caDirectory = result.caDirectory;
    for (const auto &[option, list] : {std::pair{&passthrough, &config.passthroughHosts},
                                       std::pair{&insecureHost, &config.insecureHosts}}) {
        for (const QString &value : parser.values(*option)) {
            for (const QString &host : value.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
                const QString name = host.trimmed();
                if (name.isEmpty() || name.contains(QLatin1Char(' ')) || name.contains(QLatin1Char('/'))) {
                    result.error = QStringLiteral("--%1: \"%2\" is not a host name").arg(option->names().first(), host);
                    return result;
                }
                list->append(name);
            }
        }
    }
    result.filter = parser.value(filter);
    if (!result.filter.isEmpty()) {
        QString filterError;
        CaptureFilter::parse(result.filter, &filterError);
        if (!filterError.isEmpty()) {
            result.error = QStringLiteral("--filter: %1").arg(filterError);
            return result;
        }
    }
    struct CountOption { const QCommandLineOption *option; int *value; int minimum; };
    for (const CountOption &c : {CountOption{&maxConnections, &config.maxConnections, 1},
                                 CountOption{&workers, &config.workers, 1},
                                 CountOption{&backlog, &config.listenBacklog, 1}}) {
        if (!parser.isSet(*c.option))
            continue;
        bool ok = false;
        const int value = parser.value(*c.option).toInt(&ok);
        if (!ok || value < c.minimum) {
            result.error = QStringLiteral("--%1: '%2' is not a whole number of at least %3")
                               .arg(c.option->names().first(), parser.value(*c.option))
                               .arg(c.minimum);
            return result;
        }
        *c.value = value;
    }
    if (parser.isSet(preset)) {
        const QString name = parser.value(preset);
        const NetworkPreset *found = NetworkPreset::find(name);
        if (!found) {
            result.error = QStringLiteral("--preset: no preset is called '%1' (%2)").arg(name, NetworkPreset::names());
            return result;
        } else {
            config.rules.conditions.append(found->rules());
        }
    }
    {
        QList<RuleSet::Text> conditionTexts;
        QList<RuleSet::Text> faultTexts;
        for (const QString &text : parser.values(condition))
            conditionTexts.append({QStringLiteral("--condition"), text});
        for (const QString &text : parser.values(fault))
            faultTexts.append({QStringLiteral("--fault"), text});
        if (!config.rules.addTexts(conditionTexts, faultTexts, &result.error))
            return result;
    }
    if (parser.isSet(rules)) {
        // The file's rules come after the options'; a reload (SIGHUP)
        // replaces them and keeps the options'.
        result.rulesPath = parser.value(rules);
        result.optionRules = config.rules;
        RuleSet loaded;
        QString why;
        if (!RuleSet::load(result.rulesPath, &loaded, &why)) {
            result.error = QStringLiteral("--rules %1").arg(why);
            return result;
        }
        config.rules.append(loaded);
    }
    result.jsonlPath = parser.value(jsonl);
    if (result.jsonlSamplesMs > 0 && result.jsonlPath.isEmpty()) {
        result.error = QStringLiteral("--jsonl-samples goes with --jsonl FILE|-");
        return result;
    }
    const QString invalid = config.validate();
    if (!invalid.isEmpty() && (result.headless || !config.targetHost.isEmpty())) {
        result.error = invalid;
        if (!config.listensOnLoopbackOnly() && !config.allowNonLoopback)
            result.error += QStringLiteral(" (--allow-remote)");
    }
    return result;
}
