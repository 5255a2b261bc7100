#include "commandline.h"

#include <QTest>

class tst_CommandLine : public QObject
{
    Q_OBJECT

private slots:
    void durations_data();
    void durations();
    void sizes();
    void headlessDefaults();
    void everyOption();
    void builtinEchoTarget();
    void httpProxyMode();
    void tlsTarget();
    void interception();
    void conditions();
    void errors_data();
    void errors();
};

void tst_CommandLine::durations_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<int>("ms");
    QTest::newRow("ms") << "250ms" << 250;
    QTest::newRow("seconds") << "10s" << 10'000;
    QTest::newRow("bare is seconds") << "3" << 3'000;
    QTest::newRow("minutes") << "2m" << 120'000;
    QTest::newRow("hours") << "1h" << 3'600'000;
    QTest::newRow("zero") << "0s" << -1;
    QTest::newRow("word") << "soon" << -1;
    QTest::newRow("negative") << "-5s" << -1;
    QTest::newRow("overflow") << "999999h" << -1;
}

void tst_CommandLine::durations()
{
    QFETCH(QString, text);
    QFETCH(int, ms);
    int value = -1;
    QCOMPARE(CommandLine::parseDuration(text, &value), ms >= 0);
    if (ms >= 0)
        QCOMPARE(value, ms);
}

void tst_CommandLine::sizes()
{
    int value = 0;
    QVERIFY(CommandLine::parseSize(QStringLiteral("64K"), &value));
    QCOMPARE(value, 65536);
    QVERIFY(CommandLine::parseSize(QStringLiteral("1M"), &value));
    QCOMPARE(value, 1 << 20);
    QVERIFY(CommandLine::parseSize(QStringLiteral("4096"), &value));
    QCOMPARE(value, 4096);
    QVERIFY(!CommandLine::parseSize(QStringLiteral("lots"), &value));
}

void tst_CommandLine::headlessDefaults()
{
    const CommandLine line = CommandLine::parse({"proxymon", "--headless", "--target", "example.org:80"});
    QVERIFY2(line.error.isEmpty(), qPrintable(line.error));
    QVERIFY(line.headless);
    QCOMPARE(line.config.listenAddress, QHostAddress(QHostAddress::LocalHost));
    QCOMPARE(line.config.listenPort, quint16(8080));
    QCOMPARE(line.config.targetHost, QStringLiteral("example.org"));
    QCOMPARE(line.config.targetPort, quint16(80));
    QCOMPARE(line.config.connectTimeoutMs, 10'000);
    QCOMPARE(line.config.idleTimeoutMs, 3'600'000);
    QCOMPARE(line.config.halfCloseTimeoutMs, 60'000);
    QCOMPARE(line.config.bufferBytes, 256 * 1024);
    QVERIFY(line.jsonlPath.isEmpty());
    QVERIFY(line.config.capture);
    // Headless keeps no bodies unless asked: its stream carries none.
    QCOMPARE(line.config.bodyPrefixBytes, 0);
    const CommandLine window = CommandLine::parse({"proxymon", "--target", "example.org:80"});
    QVERIFY2(window.error.isEmpty(), qPrintable(window.error));
    QCOMPARE(window.config.bodyPrefixBytes, 1024 * 1024);
}

void tst_CommandLine::builtinEchoTarget()
{
    const CommandLine line = CommandLine::parse({"proxymon", "--headless", "--target", "builtin:echo"});
    QVERIFY2(line.error.isEmpty(), qPrintable(line.error));
    QVERIFY(line.config.builtinEcho);
    QCOMPARE(line.config.targetText(), QStringLiteral("builtin:echo"));
    QCOMPARE(line.config.validate(), QString());
}

void tst_CommandLine::httpProxyMode()
{
    const CommandLine line = CommandLine::parse({"proxymon", "--headless", "--mode", "http-proxy", "--listen",
                                                 "0.0.0.0:3128", "--allow-remote", "--allow", "192.168.0.0/16",
                                                 "--allow", "10.1.2.3,::1"});
    QVERIFY2(line.error.isEmpty(), qPrintable(line.error));
    QCOMPARE(line.config.mode, ProxyConfig::Mode::HttpProxy);
    QCOMPARE(line.config.allowedClientsText(), QStringLiteral("192.168.0.0/16,10.1.2.3/32,::1/128"));
    QVERIFY(line.config.clientAllowed(QHostAddress(QStringLiteral("192.168.7.7"))));
    QVERIFY(!line.config.clientAllowed(QHostAddress(QStringLiteral("10.1.2.4"))));
    QCOMPARE(line.config.validate(), QString());
    QVERIFY(!line.config.addVia);
    const CommandLine withVia = CommandLine::parse({"proxymon", "--headless", "--mode", "http-proxy", "--via"});
    QVERIFY2(withVia.error.isEmpty(), qPrintable(withVia.error));
    QVERIFY(withVia.config.addVia);
}

void tst_CommandLine::tlsTarget()
{
    const CommandLine line = CommandLine::parse({"proxymon", "--headless", "--target", "TLS:api.example.test:443",
                                                 "--upstream-ca", "/tmp/ca.pem", "--insecure"});
    QVERIFY2(line.error.isEmpty(), qPrintable(line.error));
    QVERIFY(line.config.targetTls);
    QCOMPARE(line.config.targetHost, QStringLiteral("api.example.test"));
    QCOMPARE(line.config.targetPort, quint16(443));
    QCOMPARE(line.config.targetText(), QStringLiteral("tls:api.example.test:443"));
    QCOMPARE(line.config.upstreamCaFile, QStringLiteral("/tmp/ca.pem"));
    QVERIFY(line.config.insecureUpstream);
    const CommandLine plain = CommandLine::parse({"proxymon", "--headless", "--target", "api.example.test:80"});
    QVERIFY(!plain.config.targetTls);
    QVERIFY(!plain.config.insecureUpstream);
    QVERIFY(plain.config.decrypt);
    QVERIFY(plain.config.passthroughHosts.isEmpty());
}

void tst_CommandLine::interception()
{
    // Decryption is on unless --no-decrypt; the host lists read comma-
    // separated or repeated; the upstream switches apply to intercepted
    // connections too, so they need no tls: target.
    const CommandLine line = CommandLine::parse({"proxymon", "--headless", "--target", "a:1", "--no-decrypt",
                                                 "--passthrough", "bank.test, *.corp.test", "--passthrough", "x.test",
                                                 "--insecure-host", "self.test", "--ca-dir", "/tmp/ca",
                                                 "--insecure", "--keylog", "/tmp/keys"});
    QVERIFY2(line.error.isEmpty(), qPrintable(line.error));
    QVERIFY(!line.config.decrypt);
    QCOMPARE(line.config.passthroughHosts, QStringList({"bank.test", "*.corp.test", "x.test"}));
    QCOMPARE(line.config.insecureHosts, QStringList({"self.test"}));
    QCOMPARE(line.config.caDirectory, QStringLiteral("/tmp/ca"));
    QVERIFY(line.config.insecureUpstream);
    QCOMPARE(line.config.keyLogFile, QStringLiteral("/tmp/keys"));
}

void tst_CommandLine::conditions()
{
    const CommandLine line = CommandLine::parse({"proxymon", "--headless", "--target", "a:1", "--preset", "fast 4g",
                                                 "--condition", "down:bandwidth=1MB/s", "--condition",
                                                 "both:latency=50ms,jitter=5ms,client=127.0.0.0/8"});
    QVERIFY2(line.error.isEmpty(), qPrintable(line.error));
    const QList<ConditionRule> &rules = line.config.rules.conditions;
    QCOMPARE(rules.size(), 4); // the preset's two, then the options' in order
    QCOMPARE(rules[1].conditions.bytesPerSecond, 1'012'500);
    QCOMPARE(rules[2].conditions.bytesPerSecond, 1'000'000);
    QCOMPARE(rules[3].conditions.jitterUs, 5'000);
    QVERIFY(rules[3].clients.contains(QHostAddress(QStringLiteral("127.0.0.9"))));
    const CommandLine list = CommandLine::parse({"proxymon", "--preset", "list"});
    QVERIFY(list.presetsRequested);
    QVERIFY(list.error.isEmpty());
}

void tst_CommandLine::everyOption()
{
    const CommandLine line = CommandLine::parse(
        {"proxymon", "--headless", "--listen", "[::1]:0", "--target", "[::1]:9", "--jsonl", "-",
         "--buffer", "64K", "--connect-timeout", "500ms", "--idle-timeout", "2m", "--half-close-timeout", "5s",
         "--stop-grace", "100ms", "--max-connections", "10", "--workers", "3", "--backlog", "128",
         "--no-capture", "--body-prefix", "64K"});
    QVERIFY2(line.error.isEmpty(), qPrintable(line.error));
    QCOMPARE(line.config.listenAddress, QHostAddress(QStringLiteral("::1")));
    QCOMPARE(line.config.listenPort, quint16(0));
    QCOMPARE(line.config.targetHost, QStringLiteral("::1"));
    QCOMPARE(line.jsonlPath, QStringLiteral("-"));
    QCOMPARE(line.config.bufferBytes, 65536);
    QCOMPARE(line.config.connectTimeoutMs, 500);
    QCOMPARE(line.config.idleTimeoutMs, 120'000);
    QCOMPARE(line.config.halfCloseTimeoutMs, 5'000);
    QCOMPARE(line.config.stopGraceMs, 100);
    QCOMPARE(line.config.maxConnections, 10);
    QCOMPARE(line.config.workers, 3);
    QCOMPARE(line.config.listenBacklog, 128);
    QVERIFY(!line.config.capture);
    QCOMPARE(line.config.bodyPrefixBytes, 65536);
}

void tst_CommandLine::errors_data()
{
    QTest::addColumn<QStringList>("arguments");
    QTest::addColumn<QString>("errorPart");
    QTest::newRow("no target") << QStringList{"--headless"} << "--target";
    QTest::newRow("bad target") << QStringList{"--headless", "--target", "nowhere"} << "--target";
    QTest::newRow("target port 0") << QStringList{"--headless", "--target", "a:0"} << "--target";
    QTest::newRow("bad filter") << QStringList{"--headless", "--target", "a:1", "--filter", "status:abc"}
                                << "--filter: status takes 404";
    QTest::newRow("listen name") << QStringList{"--headless", "--listen", "example.org:80", "--target", "a:1"}
                                 << "not an IP address";
    QTest::newRow("remote without opt-in") << QStringList{"--headless", "--listen", "0.0.0.0:80", "--target", "a:1"}
                                           << "--allow-remote";
    QTest::newRow("bad duration") << QStringList{"--headless", "--target", "a:1", "--idle-timeout", "forever"}
                                  << "--idle-timeout";
    QTest::newRow("bad count") << QStringList{"--headless", "--target", "a:1", "--workers", "0"} << "--workers";
    QTest::newRow("unknown option") << QStringList{"--headless", "--frobnicate"} << "frobnicate";
    QTest::newRow("unknown mode") << QStringList{"--headless", "--mode", "socks"} << "--mode";
    QTest::newRow("proxy with target") << QStringList{"--headless", "--mode", "http-proxy", "--target", "a:1"}
                                       << "--target does not go with";
    QTest::newRow("open proxy") << QStringList{"--headless", "--mode", "http-proxy", "--listen", "0.0.0.0:3128",
                                               "--allow-remote"}
                                << "--allow";
    QTest::newRow("bad allow") << QStringList{"--headless", "--mode", "http-proxy", "--allow", "everyone"}
                               << "--allow";
    QTest::newRow("via when forwarding") << QStringList{"--headless", "--target", "a:1", "--via"} << "--via";
    QTest::newRow("bad passthrough") << QStringList{"--headless", "--target", "a:1", "--passthrough", "a b"}
                                     << "--passthrough: \"a b\" is not a host name";
    QTest::newRow("tls echo") << QStringList{"--headless", "--target", "tls:builtin:echo"} << "does not speak TLS";
    QTest::newRow("stray argument") << QStringList{"--headless", "--target", "a:1", "one", "two"} << "two";
    QTest::newRow("a file and nothing to write")
        << QStringList{"--headless", "capture.jsonl"} << "with a FILE, say what to write";
    QTest::newRow("bad condition") << QStringList{"--headless", "--target", "a:1", "--condition", "down:latency=5ms",
                                                  "--condition", "down:bandwidth=fast"}
                                   << "--condition 'down:bandwidth=fast': bandwidth 'fast' is not a rate";
    QTest::newRow("unknown preset") << QStringList{"--headless", "--target", "a:1", "--preset", "5G"}
                                    << "--preset: no preset is called '5G' (\"3G\", \"Slow 4G\"";
    QTest::newRow("curl without a file") << QStringList{"--headless", "--target", "a:1", "--curl"}
                                         << "--curl goes with --headless FILE";
}

void tst_CommandLine::errors()
{
    QFETCH(QStringList, arguments);
    QFETCH(QString, errorPart);
    arguments.prepend(QStringLiteral("proxymon"));
    const CommandLine line = CommandLine::parse(arguments);
    QVERIFY2(line.error.contains(errorPart), qPrintable(line.error));
}

QTEST_APPLESS_MAIN(tst_CommandLine)
#include "tst_commandline.moc"
