#include "tlsrowitems.h"

#include "endpoint.h"
#include "passthroughbar.h"
#include "tlsinterception.h"

#include <QAction>
#include <QCoreApplication>
#include <QRegularExpression>

namespace TlsRowItems {

QList<QAction *> make(const ConnectionRecord &record, TlsInterception &interception, PassthroughBar *passthrough,
                      QObject *holder)
{
    // The name the client asked for, else the host it reached.
    QString host = record.clientTls().serverName;
    Endpoint upstream;
    QString ignored;
    if (host.isEmpty()
        && Endpoint::parse(QString(record.upstream).remove(QRegularExpression(QStringLiteral("^tls:"))), &upstream, &ignored))
        host = upstream.host;
    QList<QAction *> items;
    if (host.isEmpty())
        return items;
    const auto item = [&](const QString &text, auto slot) {
        auto *action = new QAction(text, holder);
        QObject::connect(action, &QAction::triggered, passthrough, slot);
        items.append(action);
    };
    const auto tr = [](const char *text) { return QCoreApplication::translate("TlsRowItems", text); };
    const bool excluded = interception.listed(TlsInterception::Hosts::Passthrough, host)
        || record.decryption == ConnectionRecord::Decryption::Rejected;
    if (excluded)
        item(tr("Decrypt %1 again").arg(host), [passthrough, host] { passthrough->undo(QStringLiteral("decrypt:") + host); });
    else
        item(tr("Don't decrypt %1").arg(host), [passthrough, host] { passthrough->exclude(host); });
    if (record.error.contains(QLatin1String("certificate")) && !interception.listed(TlsInterception::Hosts::Insecure, host)) {
        item(tr("Relay %1 despite its certificate").arg(host),
             [&interception, host] { interception.addHost(TlsInterception::Hosts::Insecure, host); });
    }
    return items;
}

} // namespace TlsRowItems
