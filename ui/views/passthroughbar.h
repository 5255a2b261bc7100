#pragma once

#include <QLabel>

class TlsInterception;

// The hosts whose TLS proxymon is not decrypting this session because of
// something that happened in it, each with a one-click undo: those whose
// clients rejected proxymon's certificate (added by the engine, so that
// the next connection works unchanged) and those the user excluded from
// a row's menu. Hidden while there are none.
class PassthroughBar : public QLabel
{
    Q_OBJECT
public:
    PassthroughBar(TlsInterception &interception, QWidget *parent = nullptr);

    // Excluded from a row's menu: shown here until undone.
    void exclude(const QString &host);
    const QStringList &excluded() const { return m_excluded; }
    // The links' action ("decrypt:HOST"); what a click does.
    void undo(const QString &link);
    // Reads the lists again (the engine said they changed).
    void refresh();

private:
    TlsInterception &m_interception;
    QStringList m_excluded;
};
