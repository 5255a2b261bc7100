#include "cacommand.h"

#include "certificateauthority.h"
#include "commandline.h"
#include "trustinstructions.h"

#include <QFile>
#include <QSaveFile>

#include <cstdio>

int CaCommand::run(const CommandLine &commandLine)
{
    const QString directory = commandLine.caDirectory.isEmpty() ? CertificateAuthority::defaultDirectory()
                                                                : commandLine.caDirectory;
    const bool existed = QFile::exists(directory + QLatin1Char('/') + QLatin1String(CertificateAuthority::CertificateFile));
    QString error;
    const auto authority = commandLine.caReplace ? CertificateAuthority::replace(directory, &error)
                                                 : CertificateAuthority::open(directory, &error);
    if (!authority) {
        std::fprintf(stderr, "proxymon: %s\n", qPrintable(error));
        return 1;
    }
    const QString made = commandLine.caReplace ? QStringLiteral(" (new: clients that trusted the old one must trust this one)")
                         : existed            ? QString()
                                              : QStringLiteral(" (made now)");
    std::printf("proxymon's certificate authority%s\n  certificate: %s\n  SHA-256 fingerprint: %s\n  valid until: %s\n",
                qPrintable(made), qPrintable(authority->certificatePath()), qPrintable(authority->fingerprint()),
                qPrintable(authority->validUntil().toString(QStringLiteral("yyyy-MM-dd"))));
    if (!commandLine.caExportPath.isEmpty()) {
        const QString path = commandLine.caExportPath;
        const bool der = path.endsWith(QLatin1String(".der"), Qt::CaseInsensitive)
            || path.endsWith(QLatin1String(".cer"), Qt::CaseInsensitive);
        QSaveFile file(path);
        if (!file.open(QIODevice::WriteOnly)
            || file.write(der ? authority->certificateDer() : authority->certificatePem()) < 0 || !file.commit()) {
            std::fprintf(stderr, "proxymon: cannot write %s: %s\n", qPrintable(path), qPrintable(file.errorString()));
            return 1;
        }
        std::printf("  saved as %s to %s\n", der ? "DER" : "PEM", qPrintable(path));
    }
    std::printf("\nTo let a client trust it:\n%s", qPrintable(TrustInstructions::text(authority->certificatePath())));
    return 0;
}
