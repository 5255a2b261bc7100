#include "ruledconfig.h"

ProxyConfig forwardingConfig(const char *listen, const char *targetHost, quint16 targetPort)
{
    ProxyConfig config;
    config.listenAddress = QHostAddress(QString::fromLatin1(listen));
    config.listenPort = 0;
    config.targetHost = QString::fromLatin1(targetHost);
    config.targetPort = targetPort;
    config.stopGraceMs = 100;
    return config;
}

ProxyConfig ruledConfig(quint16 upstreamPort, const QStringList &conditions, const QStringList &faults)
{
    ProxyConfig config = forwardingConfig("127.0.0.1", "127.0.0.1", upstreamPort);
    QList<RuleSet::Text> conditionTexts;
    QList<RuleSet::Text> faultTexts;
    for (const QString &text : conditions)
        conditionTexts.append({QStringLiteral("condition"), text});
    for (const QString &text : faults)
        faultTexts.append({QStringLiteral("fault"), text});
    QString error;
    if (!config.rules.addTexts(conditionTexts, faultTexts, &error))
        qFatal("%s", qPrintable(error));
    return config;
}

ProxyConfig ruledHttpProxy(const QStringList &conditions, const QStringList &faults)
{
    ProxyConfig config = ruledConfig(0, conditions, faults);
    config.targetHost.clear();
    config.mode = ProxyConfig::Mode::HttpProxy;
    return config;
}
