#pragma once

#include <QString>

// A host and port as the user writes them: "host:port", "1.2.3.4:80",
// "[::1]:8080". The host may be a name or an address literal.
struct Endpoint
{
    QString host;
    quint16 port = 0;

    // Parses text; on failure returns false and says why in *error.
    // With allowPortOnly, a bare "8080" means host "" (the caller's default).
    static bool parse(const QString &text, Endpoint *out, QString *error,
                      bool allowPortOnly = false);

    // Formats an address and port the way parse() reads them back, in one
    // allocation (every connection's record carries two or three).
    static QString format(const QString &host, quint16 port);
    static QString format(QLatin1String host, quint16 port);

    QString toString() const { return format(host, port); }
};
