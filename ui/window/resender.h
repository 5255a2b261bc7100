#pragma once

#include "connectionrecord.h"
#include "httpexchange.h"
#include "replayrequest.h"

#include <QHash>
#include <QObject>

class CaptureStore;
class ProxyServer;
class QWidget;

// Sends captured requests again through the proxy's own listener, as they
// were or edited in the composer, so that their answers are captured too;
// and remembers which connection each resend became, for the detail pane.
// Tells the window what to say rather than saying it.
class Resender : public QObject
{
    Q_OBJECT
public:
    // window: the composer's parent.
    Resender(ProxyServer *server, const CaptureStore *store, QWidget *window);

    // As it was, or (edit) through the composer.
    void resend(const HttpExchange &exchange, bool edit);
    void send(const ReplayRequest &request, const QString &origin);
    // Records that just came: a resend's connection is known by its
    // client address until it shows up.
    void noteRecords(const QList<ConnectionRecord> &records);
    // Where a connection came from when it was a resend ("resent from
    // connection 3, exchange 1"), else empty.
    QString originOf(quint64 connectionId) const { return m_origins.value(connectionId); }
    // The capture was cleared or replaced.
    void forget() { m_origins.clear(); }

signals:
    void problem(const QString &text); // for the banner
    void message(const QString &text); // for the status bar

private:
    ProxyServer *m_server;
    const CaptureStore *m_store;
    QWidget *m_window;
    // The client address a resend connected from → where it came from,
    // until its connection shows up; then by connection id.
    QHash<QString, QString> m_resendClients;
    QHash<quint64, QString> m_origins;
};
