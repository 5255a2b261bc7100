#pragma once

#include "httpheadparser.h"
#include "listenerinfo.h"
#include "ruleset.h"
#include "subnetlist.h"

#include <QHostAddress>
#include <QList>
#include <QString>
#include <QStringList>

// Everything the engine needs to run. A value, copied into each worker.
struct ProxyConfig
{
    // How the user names the lab's echo server as a target (ProxyServer
    // starts it through the starter it is given).
    static constexpr const char *BuiltinEchoName = "builtin:echo";

    QHostAddress listenAddress = QHostAddress(QHostAddress::LocalHost);
    quint16 listenPort = 0;               // 0 picks a free port
    bool allowNonLoopback = false;        // listening beyond loopback is opt-in

    enum class Mode : quint8 {
        Forward,   // every connection goes to the target
        HttpProxy, // a forward HTTP proxy: each request names its host
    };
    Mode mode = Mode::Forward;
    // Clients allowed to connect; empty: any. Required for an HTTP proxy
    // that listens beyond loopback.
    SubnetList allowedClients;

    QString targetHost;                   // name or address literal
    quint16 targetPort = 0;
    bool builtinEcho = false;             // target the built-in echo server; the
                                          // server fills in its address at start
    bool targetTls = false;               // "tls:HOST:PORT": speak TLS to the target
    QString upstreamCaFile;               // trusted beside the system's store
    bool insecureUpstream = false;        // relay to upstreams whose certificate fails its check
    QString keyLogFile;                   // TLS secrets appended here (NSS key log format) when set
    bool decrypt = true;                  // intercept clients' TLS with proxymon's certificates
    QStringList passthroughHosts;         // never decrypted ("*.example.com": and its subdomains)
    QStringList insecureHosts;            // upstreams relayed although their certificate fails its check
    QString caDirectory;                  // where proxymon's authority lives; empty: the default
    // HTTP proxy mode: where the server serves http://proxymon.test/ (set at
    // start): plain requests, and tunnels whose TLS proxymon decrypted.
    quint16 caPagePlainPort = 0;
    quint16 caPageDecryptedPort = 0;

    int bufferBytes = 256 * 1024;         // held at most per direction
    int connectTimeoutMs = 10'000;
    int idleTimeoutMs = 3'600'000;
    int halfCloseTimeoutMs = 60'000;      // inactivity once one side sent FIN
    int stopGraceMs = 1'000;              // live connections get this long after stop
    int maxConnections = 0;               // 0: (RLIMIT_NOFILE - 64) / 2
    int workers = 0;                      // 0: one per core
    // Added to the workers' nice value. The window runs its engine a step
    // below its own thread: with every core busy relaying, a frame that
    // needed 14 ms of CPU took over 50 ms waiting for one. Headless leaves
    // it at 0.
    int workerNiceness = 0;
    int listenBacklog = 4096;

    // Network conditions and faults for the connections that match; the
    // shared bandwidths' pacers are made at each start.
    RuleSet rules;

    bool capture = true;                  // follow HTTP and report exchanges
    int bodyPrefixBytes = 1024 * 1024;    // kept per body for viewing
    int rawPrefixBytes = 64 * 1024;       // kept each way of a connection that is not HTTP
    int headBytes = 64 * 1024;            // a head's cap
    int headHeaders = 100;
    // The two above, as the HTTP parsers take them.
    HttpHeadParser::Limits headLimits() const { return {qsizetype(headBytes), headHeaders}; }

    // HTTP proxy mode: add "Via: 1.1 proxymon-<id>" to forwarded requests.
    // Off by default because servers change what they send to a proxy
    // (nginx stops compressing for a Via, gzip_proxied off), and a debugging
    // proxy must show what the client would get.
    bool addVia = false;
    QByteArray viaToken;                  // names this proxy in Via when addVia; set at start

    // Reads "ADDR:PORT", "[::1]:PORT" or a bare port (loopback) into the
    // listen fields; false with the reason in *error when it cannot.
    bool setListen(const QString &text, QString *error);
    // Reads "HOST:PORT", "tls:HOST:PORT" (or "builtin:echo") into the
    // target fields, the same way.
    bool setTarget(const QString &text, QString *error);

    // Reads "ADDR[/PREFIX],..." into allowedClients.
    bool setAllowedClients(const QString &text, QString *error);
    bool clientAllowed(const QHostAddress &address) const;
    QString allowedClientsText() const;
    // "forward" or "http-proxy".
    bool setMode(const QString &text, QString *error);
    static QString modeName(Mode mode);

    // Returns an empty string when the configuration can run, otherwise why not.
    QString validate() const;

    QString targetText() const;
    QString listenText() const;
    // What the record says of this listener.
    ListenerInfo listenerInfo() const;
    bool listensOnLoopbackOnly() const;
};
