#include "tlsdetailstext.h"

#include <QCoreApplication>
#include <QSslCertificate>
#include <QStringList>

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("TlsDetailsText", text);
}

void describeLeg(QStringList *lines, const QString &title, const TlsDetails &tls)
{
    lines->append(title);
    lines->append(tr("  protocol      %1").arg(tls.version));
    lines->append(tr("  cipher        %1").arg(tls.cipher));
    lines->append(tr("  ALPN          %1").arg(tls.alpn.isEmpty() ? tr("(none)") : tls.alpn));
    lines->append(tr("  SNI           %1").arg(tls.serverName.isEmpty() ? tr("(none)") : tls.serverName));
    if (tls.handshakeMs >= 0)
        lines->append(tr("  handshake     %1 ms").arg(tls.handshakeMs));
    if (!tls.verification.isEmpty())
        lines->append(tr("  certificate   %1").arg(tls.verification == QLatin1String("ok") ? tr("verified") : tls.verification));
}

} // namespace

QString TlsDetailsText::describe(const ConnectionRecord &record)
{
    using Decryption = ConnectionRecord::Decryption;
    QStringList lines;
    switch (record.decryption) {
    case Decryption::Decrypted:
        lines.append(tr("Decrypted: proxymon ended the client's TLS with its own certificate."));
        break;
    case Decryption::Passthrough:
        lines.append(tr("Not decrypted: %1.").arg(record.decryptionNote));
        break;
    case Decryption::Rejected:
        lines.append(tr("Rejected: %1.").arg(record.decryptionNote));
        lines.append(tr("Its host's next connections pass through; the bar above the list undoes that."));
        break;
    case Decryption::None:
        if (record.upstreamTls().isEmpty())
            return tr("Connection %1 carried no TLS that proxymon saw.").arg(record.id);
        lines.append(tr("The client spoke plain TCP; proxymon spoke TLS to the upstream."));
        break;
    }
    if (record.tlsTruncated)
        lines.append(tr("A TLS stream ended without close_notify (passed on as a FIN)."));
    if (!record.clientTls().isEmpty()) {
        lines.append(QString());
        describeLeg(&lines, tr("Client ⇄ proxymon"), record.clientTls());
    } else if (!record.clientTls().serverName.isEmpty()) {
        lines.append(QString());
        lines.append(tr("The client asked for %1 (SNI).").arg(record.clientTls().serverName));
    }
    if (!record.upstreamTls().isEmpty()) {
        lines.append(QString());
        describeLeg(&lines, tr("proxymon ⇄ upstream"), record.upstreamTls());
        if (!record.upstreamTls().chainPem.isEmpty()) {
            lines.append(QString());
            lines.append(tr("Upstream certificate chain:"));
            lines.append(chain(record.upstreamTls().chainPem));
        }
    }
    return lines.join(QLatin1Char('\n'));
}

QString TlsDetailsText::chain(const QByteArray &pem)
{
    QStringList lines;
    int index = 0;
    for (const QSslCertificate &certificate : QSslCertificate::fromData(pem, QSsl::Pem)) {
        const auto name = [](const QStringList &parts) { return parts.isEmpty() ? tr("(unnamed)") : parts.join(QLatin1String(", ")); };
        lines.append(tr("  %1. %2").arg(index++).arg(name(certificate.subjectInfo(QSslCertificate::CommonName))));
        lines.append(tr("     issuer  %1").arg(name(certificate.issuerInfo(QSslCertificate::CommonName))));
        lines.append(tr("     valid   %1 to %2")
                         .arg(certificate.effectiveDate().toString(Qt::ISODate), certificate.expiryDate().toString(Qt::ISODate)));
        lines.append(tr("     sha256  %1").arg(QString::fromLatin1(certificate.digest(QCryptographicHash::Sha256).toHex(':'))));
    }
    return lines.join(QLatin1Char('\n'));
}
