#pragma once

#include <QProcess>
#include <QString>
#include <QTemporaryDir>

// Debian's nginx on loopback for a test, configured as in production
// (sendfile on), one process, everything it writes in a folder of its own.
// Stopped when destroyed.
class NginxServer
{
public:
    NginxServer();
    ~NginxServer();

    // A file's path in its folder (site files, certificates, logs).
    QString path(const QString &name) const;
    // Writes a file there, making its folders.
    bool write(const QString &name, const QByteArray &data) const;
    // Starts nginx with these lines inside its http block ("%1" stands
    // for its folder) and waits until waitPort on 127.0.0.1 accepts.
    // Returns false with *error set when it does not.
    bool start(const QString &httpLines, quint16 waitPort, QString *error);

private:
    QTemporaryDir m_directory;
    QProcess m_process;
};
