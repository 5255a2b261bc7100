#include "trustinstructions.h"

QString TrustInstructions::shellQuoted(const QString &word)
{
    QString quoted = word;
    quoted.replace(QLatin1Char('\''), QStringLiteral("'\\''"));
    return QLatin1Char('\'') + quoted + QLatin1Char('\'');
}

QList<TrustInstructions::Step> TrustInstructions::forCertificate(const QString &pemPath)
{
    const QString file = shellQuoted(pemPath);
    return {
        {QStringLiteral("Debian's system store (curl, wget, apt, most programs using OpenSSL or GnuTLS); as root"),
         QStringLiteral("cp %1 /usr/local/share/ca-certificates/proxymon.crt && update-ca-certificates").arg(file)},
        {QStringLiteral("Chromium and Chrome (your user's NSS database; certutil is in libnss3-tools)"),
         QStringLiteral("mkdir -p \"$HOME/.pki/nssdb\" && certutil -d sql:\"$HOME/.pki/nssdb\" -A -t C,, -n proxymon -i %1")
             .arg(file)},
        {QStringLiteral("Firefox (each profile has its own database; PROFILE is its folder under ~/.mozilla/firefox)"),
         QStringLiteral("certutil -d sql:\"$HOME/.mozilla/firefox/PROFILE\" -A -t C,, -n proxymon -i %1").arg(file)},
        {QStringLiteral("One program, through the variables common clients read (OpenSSL, curl, Node.js, Python "
                        "requests); all but Node's replace that program's usual store"),
         QStringLiteral("export SSL_CERT_FILE=%1 CURL_CA_BUNDLE=%1 NODE_EXTRA_CA_CERTS=%1 REQUESTS_CA_BUNDLE=%1").arg(file)},
        {QStringLiteral("curl, for one request"), QStringLiteral("curl --cacert %1 https://example.com/").arg(file)},
    };
}

QString TrustInstructions::text(const QString &pemPath)
{
    QString all;
    for (const Step &step : forCertificate(pemPath))
        all += QStringLiteral("  %1:\n    %2\n").arg(step.who, step.command);
    return all;
}
