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

namespace {

// Every option, in the order --help lists them: its names (the last is the
// one the code asks for), the name of its value (none for a switch), what
// it does, and its default.
struct OptionSpec
{
    const char *names;
    const char *value;
    const char *description;
    const char *defaultValue = nullptr;
};

const OptionSpec Options[] = {
    {"h,help", nullptr, "Show this help and exit."},
    {"version", nullptr, "Show the version and exit."},
    {"headless", nullptr, "Run without a window, reporting on the terminal."},
    {"listen", "ADDR:PORT", "Address to listen on (default 127.0.0.1:8080). Port 0 picks a free port.", "127.0.0.1:8080"},
    {"target", "HOST:PORT", "Where to forward connections: HOST:PORT; tls:HOST:PORT to speak TLS to it (clients "
     "speak plain TCP, and their HTTP shows); or builtin:echo for the built-in echo server."},
    {"mode", "MODE", "forward (default): every connection goes to --target. http-proxy: a standard HTTP "
     "proxy (curl -x, http_proxy=); each request names its host, CONNECT opens tunnels."},
    {"allow", "ADDRS", "Accept clients only from these addresses (ADDR or ADDR/PREFIX, comma-separated or "
     "repeated). Required for an HTTP proxy listening beyond loopback."},
    {"jsonl", "FILE|-", "Write one JSON object per event to FILE, or to standard output with -."},
    {"jsonl-samples", "DURATION", "Add a connection_sample line for every live connection this often (bytes and rate each way "
     "since the last sample), e.g. 1s."},
    {"bodies", nullptr, "Put heads' raw bytes and the bodies kept (--body-prefix, 1M by default with this) in the "
     "JSONL stream, exactly (base64 where not text): the window opens such a file as it was."},
    {"har", "FILE", "When the proxy stops, write the capture (the last 10,000 connections, 256M of bytes) to "
     "FILE as HAR 1.2, for browser devtools and HAR viewers."},
    {"pcapng", "FILE", "When the proxy stops, write the capture's connections to FILE as pcapng for Wireshark "
     "(both legs; TCP synthesized around the recorded bytes)."},
    {"curl", nullptr, "With --headless FILE: print a curl command for each exchange in FILE (see Copy as curl)."},
    {"allow-remote", nullptr, "Allow a listen address other than loopback (other machines can then use the proxy)."},
    {"buffer", "SIZE", "Most bytes held per direction of a connection (default 256K)."},
    {"connect-timeout", "DURATION", "Give up reaching the target after this long (default 10s)."},
    {"idle-timeout", "DURATION", "Close a connection with no traffic for this long (default 1h)."},
    {"half-close-timeout", "DURATION", "Close a half-closed connection with no traffic for this long (default 60s)."},
    {"stop-grace", "DURATION", "On stop, let live connections finish for this long (default 1s)."},
    {"max-connections", "N", "Concurrent connections before accepting pauses (default: (descriptor limit - 64) / 2)."},
    {"workers", "N", "Relay threads (default: one per core)."},
    {"backlog", "N", "Listen backlog (default 4096)."},
    {"no-capture", nullptr, "Only forward and count bytes; do not follow HTTP."},
    {"via", nullptr, "HTTP proxy mode: add a Via header naming proxymon to forwarded requests (off by default: "
     "servers answer a proxy differently, e.g. nginx stops compressing)."},
    {"body-prefix", "SIZE", "Bytes of each HTTP body kept for viewing (default 1M in the window; none headless, "
     "whose stream carries no bodies)."},
    {"raw-prefix", "SIZE", "Bytes kept each way of a connection that is not HTTP, with the reads that brought them, for "
     "its conversation view (default 64K)."},
    {"upstream-ca", "FILE", "Trust the certificates in FILE (PEM), beside the system's, when speaking TLS to upstreams."},
    {"insecure", nullptr, "Speak TLS to upstreams without checking their certificates (expired, wrong name, "
     "unknown issuer) or protocol version."},
    {"keylog", "FILE", "Append the secrets of the TLS sessions proxymon speaks to FILE, in the NSS key log format "
     "(SSLKEYLOGFILE), so Wireshark can decrypt a capture of them. Anyone who reads FILE can too."},
    {"no-decrypt", nullptr, "Relay TLS unread: do not end clients' TLS with proxymon's certificates."},
    {"passthrough", "HOSTS", "Never decrypt connections to these hosts (comma-separated or repeated; *.example.com "
     "also covers its subdomains): their TLS is relayed unread."},
    {"insecure-host", "HOSTS", "Like --insecure, for these upstream hosts only (comma-separated or repeated)."},
    {"ca-dir", "DIR", "Keep proxymon's certificate authority in DIR instead of the data directory."},
    {"ca", nullptr, "Show where proxymon's certificate authority is (making it on first use) and how to make "
     "clients trust it, then exit."},
    {"ca-export", "FILE", "With --ca: also save its certificate to FILE (DER for .der and .cer, else PEM)."},
    {"ca-replace", nullptr, "With --ca: replace the authority with a new one (every client must then trust the new one)."},
    {"filter", "EXPR", "Write only matching connections and exchanges to the JSONL stream, in the window's "
     "filter language: words, host: status: method: client: state: is:, -term."},
    {"condition", "RULE", "Network conditions for the connections (repeatable): DIR:SETTING=VALUE,... with DIR up, "
     "down or both; settings latency, jitter, bandwidth (1MB/s, 2Mbit/s), burst, shared (one "
     "bandwidth for all connections), slice, slice-variation, slice-delay, connect-delay, "
     "client (ADDR or ADDR/PREFIX, ; between several), probability (drawn once per connection)."},
    {"preset", "NAME", "A browser's throttling preset, by its name: Chrome's \"3G\", \"Slow 4G\", \"Fast 4G\"; "
     "Firefox's \"GPRS\" ... \"Wi-Fi\" (--preset list shows them all)."},
    {"fault", "RULE", "A fault that fires by itself (repeatable): KIND[:SETTING=VALUE,...] with KIND reset (side=), "
     "close, half-close (toward=client|upstream), stall or blackhole (dir=up|down|both, for=DURATION), "
     "limit (dir=, bytes=N, then=close|reset|half-close), refuse (for=, after=: no new connections "
     "for a while); when: after=DURATION, after-up=N or "
     "after-down=N bytes, on=first-data (default: at the accept); whom: client=ADDR/PREFIX, "
     "probability=P (drawn once per connection). HTTP faults: status (code=NNN: answer instead "
     "of the upstream), delay-head (delay=), cut-body (bytes=N, then=close|reset), no-response; for "
     "the requests matching method=, host=, path=REGEX, header=NAME[:REGEX], first=N or every=N "
     "(probability drawn per request)."},
    {"rules", "FILE", "Conditions and faults from a JSON file ({\"preset\": NAME, \"conditions\": [RULE...], "
     "\"faults\": [RULE...]}), after the options'; headless, SIGHUP reloads it."},
    {"commands", nullptr, "Headless: read commands from standard input, one per line, answered on standard error: "
     "list (the live connections), act ID FAULT (reset:side=client, half-close:toward=upstream, "
     "stall:dir=up,for=2s, resume:dir=up, ...), throttle ID CONDITION|off, help."},
};

} // namespace

CommandLine CommandLine::parse(const QStringList &arguments)
{
    CommandLine result;

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "proxymon: a TCP proxy that shows every connection passing through it.\n"
        "Point a client at the listen address; proxymon forwards to the target."));
    for (const OptionSpec &spec : Options) {
        QCommandLineOption option(QString::fromLatin1(spec.names).split(u','), QString::fromUtf8(spec.description));
        if (spec.value)
            option.setValueName(QString::fromLatin1(spec.value));
        if (spec.defaultValue)
            option.setDefaultValue(QString::fromLatin1(spec.defaultValue));
        parser.addOption(option);
    }
    const auto isSet = [&parser](const char *name) { return parser.isSet(QString::fromLatin1(name)); };
    const auto valueOf = [&parser](const char *name) { return parser.value(QString::fromLatin1(name)); };
    const auto valuesOf = [&parser](const char *name) { return parser.values(QString::fromLatin1(name)); };
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
    result.helpRequested = isSet("help");
    result.versionRequested = isSet("version");
    // One FILE: a capture for the window to open, or headless to write out.
    if (parser.positionalArguments().size() > 1) {
        result.error = QStringLiteral("unexpected argument '%1'").arg(parser.positionalArguments().last());
        return result;
    }
    result.openPath = parser.positionalArguments().value(0);
    result.curl = isSet("curl");
    if (isSet("headless") && !result.openPath.isEmpty()) {
        // No proxy then: the file is read and written out as asked.
        result.headless = true;
        result.harPath = valueOf("har");
        result.pcapngPath = valueOf("pcapng");
        result.jsonlPath = valueOf("jsonl");
        result.bodies = isSet("bodies");
        result.filter = valueOf("filter");
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
    result.headless = isSet("headless");
    if (result.helpRequested || result.versionRequested)
        return result;
    result.caRequested = isSet("ca") || isSet("ca-export") || isSet("ca-replace");
    result.caReplace = isSet("ca-replace");
    result.caExportPath = valueOf("ca-export");
    result.caDirectory = valueOf("ca-dir");
    if (result.caRequested)
        return result; // nothing else matters: it prints and exits
    if (valueOf("preset") == u"list") {
        result.presetsRequested = true;
        return result;
    }

    ProxyConfig &config = result.config;
    QString error;
    if (!config.setListen(valueOf("listen"), &error)) {
        result.error = QStringLiteral("--listen: %1").arg(error);
        return result;
    }
    config.allowNonLoopback = isSet("allow-remote");
    result.commands = isSet("commands");
    if (result.commands && !result.headless) {
        result.error = QStringLiteral("--commands goes with --headless: the window has the row menu");
        return result;
    }

    if (isSet("mode") && !config.setMode(valueOf("mode"), &error)) {
        result.error = QStringLiteral("--mode: %1").arg(error);
        return result;
    }
    if (isSet("allow") && !config.setAllowedClients(valuesOf("allow").join(u','), &error)) {
        result.error = QStringLiteral("--allow: %1").arg(error);
        return result;
    }
    const bool proxyMode = config.mode == ProxyConfig::Mode::HttpProxy;
    if (proxyMode && isSet("target")) {
        result.error = QStringLiteral("--target does not go with --mode http-proxy: each request names its host");
        return result;
    }
    if (isSet("target")) {
        if (!config.setTarget(valueOf("target"), &error)) {
            result.error = QStringLiteral("--target: %1").arg(error);
            return result;
        }
    } else if (result.headless && !proxyMode) {
        result.error = QStringLiteral("--target HOST:PORT is required");
        return result;
    }

    struct DurationOption { const char *name; int *value; };
    for (const DurationOption &d : {DurationOption{"connect-timeout", &config.connectTimeoutMs},
                                    DurationOption{"idle-timeout", &config.idleTimeoutMs},
                                    DurationOption{"half-close-timeout", &config.halfCloseTimeoutMs},
                                    DurationOption{"stop-grace", &config.stopGraceMs},
                                    DurationOption{"jsonl-samples", &result.jsonlSamplesMs}}) {
        if (isSet(d.name) && !parseDuration(valueOf(d.name), d.value)) {
            result.error = QStringLiteral("--%1: '%2' is not a duration such as 500ms, 10s, 2m or 1h")
                               .arg(QLatin1String(d.name), valueOf(d.name));
            return result;
        }
    }
    struct SizeOption { const char *name; int *value; };
    for (const SizeOption &z : {SizeOption{"buffer", &config.bufferBytes}, SizeOption{"body-prefix", &config.bodyPrefixBytes},
                                SizeOption{"raw-prefix", &config.rawPrefixBytes}}) {
        if (isSet(z.name) && !parseSize(valueOf(z.name), z.value)) {
            result.error = QStringLiteral("--%1: '%2' is not a size such as 64K or 1M")
                               .arg(QLatin1String(z.name), valueOf(z.name));
            return result;
        }
    }
    // Nothing headless shows a body: keeping one would copy every body
    // byte for nobody (the relay then splices bodies without reading them).
    result.bodies = isSet("bodies");
    result.harPath = valueOf("har");
    result.pcapngPath = valueOf("pcapng");
    // Headless keeps no bodies unless something will write them.
    if (result.headless && !isSet("body-prefix") && !result.bodies && result.harPath.isEmpty()
        && result.pcapngPath.isEmpty())
        config.bodyPrefixBytes = 0;
    config.capture = !isSet("no-capture");
    config.addVia = isSet("via");
    if (config.addVia && !proxyMode) {
        result.error = QStringLiteral("--via goes with --mode http-proxy");
        return result;
    }
    config.upstreamCaFile = valueOf("upstream-ca");
    config.insecureUpstream = isSet("insecure");
    config.keyLogFile = valueOf("keylog");
    config.decrypt = !isSet("no-decrypt");
    config.caDirectory = result.caDirectory;
    for (const auto &[option, list] : {std::pair{"passthrough", &config.passthroughHosts},
                                       std::pair{"insecure-host", &config.insecureHosts}}) {
        for (const QString &text : valuesOf(option)) {
            for (const QString &host : text.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
                const QString name = host.trimmed();
                if (name.isEmpty() || name.contains(QLatin1Char(' ')) || name.contains(QLatin1Char('/'))) {
                    result.error = QStringLiteral("--%1: \"%2\" is not a host name").arg(QLatin1String(option), host);
                    return result;
                }
                list->append(name);
            }
        }
    }
    result.filter = valueOf("filter");
    if (!result.filter.isEmpty()) {
        QString filterError;
        CaptureFilter::parse(result.filter, &filterError);
        if (!filterError.isEmpty()) {
            result.error = QStringLiteral("--filter: %1").arg(filterError);
            return result;
        }
    }
    struct CountOption { const char *name; int *value; int minimum; };
    for (const CountOption &c : {CountOption{"max-connections", &config.maxConnections, 1},
                                 CountOption{"workers", &config.workers, 1},
                                 CountOption{"backlog", &config.listenBacklog, 1}}) {
        if (!isSet(c.name))
            continue;
        bool ok = false;
        const int value = valueOf(c.name).toInt(&ok);
        if (!ok || value < c.minimum) {
            result.error = QStringLiteral("--%1: '%2' is not a whole number of at least %3")
                               .arg(QLatin1String(c.name), valueOf(c.name))
                               .arg(c.minimum);
            return result;
        }
        *c.value = value;
    }
    if (isSet("preset")) {
        const QString name = valueOf("preset");
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
        for (const QString &text : valuesOf("condition"))
            conditionTexts.append({QStringLiteral("--condition"), text});
        for (const QString &text : valuesOf("fault"))
            faultTexts.append({QStringLiteral("--fault"), text});
        if (!config.rules.addTexts(conditionTexts, faultTexts, &result.error))
            return result;
    }
    if (isSet("rules")) {
        // The file's rules come after the options'; a reload (SIGHUP)
        // replaces them and keeps the options'.
        result.rulesPath = valueOf("rules");
        result.optionRules = config.rules;
        RuleSet loaded;
        QString why;
        if (!RuleSet::load(result.rulesPath, &loaded, &why)) {
            result.error = QStringLiteral("--rules %1").arg(why);
            return result;
        }
        config.rules.append(loaded);
    }
    result.jsonlPath = valueOf("jsonl");
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
