#pragma once

#include <QList>
#include <QString>

// How to make clients trust proxymon's certificate authority: one copyable
// shell command per kind of client, for the certificate at a path. The
// window's trust dialog and `proxymon --ca` show the same steps.
struct TrustInstructions
{
    struct Step
    {
        QString who;     // "Debian's system store (curl, wget, apt, Python's ssl)"
        QString command; // one line for sh or bash
    };

    static QList<Step> forCertificate(const QString &pemPath);
    // All steps as text for a terminal.
    static QString text(const QString &pemPath);
    // word in single quotes, safe for sh whatever it holds.
    static QString shellQuoted(const QString &word);
};
