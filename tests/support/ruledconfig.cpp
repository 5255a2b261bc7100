#include "ruledconfig.h"

ProxyConfig ruledConfig(quint16 upstreamPort, const QStringList &conditions, const QStringList &faults)
{
    ProxyConfig config;
    config.listenAddress = QHostAddress::LocalHost;
    config.targetHost = QStringLiteral("127.0.0.1");
    config.targetPort = upstreamPort;
    config.stopGraceMs = 100;
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
