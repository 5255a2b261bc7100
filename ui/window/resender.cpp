#include "resender.h"

#include "capturestore.h"
#include "proxyserver.h"
#include "replayclient.h"
#include "requestcomposer.h"

#include <QHostAddress>

Resender::Resender(ProxyServer *server, const CaptureStore *store, QWidget *window)
    : QObject(window)
    , m_server(server)
    , m_store(store)
    , m_window(window)
{
}

void Resender::resend(const HttpExchange &exchange, bool edit)
{
    if (!m_server->isListening()) {
        emit problem(tr("Start the proxy to send a request again: it goes through proxymon's listener, "
                        "so that its answer is captured too"));
        return;
    }
    const qsizetype row = m_store->connectionRow(exchange.connectionId);
    const bool clientSpokeTls = row >= 0 && !m_store->connectionAt(row).clientTls().isEmpty();
    const QString origin = tr("resent from connection %1, exchange %2").arg(exchange.connectionId).arg(exchange.sequence);
    const ReplayRequest request = ReplayRequest::from(exchange, clientSpokeTls);
    const ProxyConfig config = m_server->config();
    const bool proxyMode = config.mode == ProxyConfig::Mode::HttpProxy;
    if (edit) {
        const QString where = proxyMode ? tr("proxymon's HTTP proxy on %1").arg(config.listenText())
                                        : tr("proxymon on %1, forwarding to %2 (the URL gives the path and Host)")
                                              .arg(config.listenText(), config.targetText());
        auto *composer = new RequestComposer(request, where, !proxyMode, m_window);
        composer->setAttribute(Qt::WA_DeleteOnClose);
        connect(composer, &RequestComposer::sendRequested, this,
                [this, origin](const ReplayRequest &edited) { send(edited, origin + tr(", edited")); });
        composer->open();
        return;
    }
    if (quint64(exchange.requestBody.size()) < exchange.requestBodyBytes) {
        emit problem(tr("proxymon kept %1 of the request's %2 body bytes, so it cannot be sent again as it was; "
                        "Edit and resend sends what was kept, or another body")
                         .arg(exchange.requestBody.size())
                         .arg(exchange.requestBodyBytes));
        return;
    }
    send(request, origin);
}

void Resender::send(const ReplayRequest &request, const QString &origin)
{
    const ProxyConfig config = m_server->config();
    ReplayRequest::Listener listener;
    QHostAddress address = m_server->listenAddress();
    if (address == QHostAddress::Any || address == QHostAddress::AnyIPv4)
        address = QHostAddress(QHostAddress::LocalHost);
    else if (address == QHostAddress::AnyIPv6)
        address = QHostAddress(QHostAddress::LocalHostIPv6);
    listener.host = address.toString();
    listener.port = m_server->listenPort();
    listener.httpProxy = config.mode == ProxyConfig::Mode::HttpProxy;
    listener.authorityFile = m_server->authorityCertificatePath();
    QString error;
    const ReplayClient::Plan plan = request.plan(listener, &error);
    if (!error.isEmpty()) {
        emit problem(tr("Cannot send: %1").arg(error));
        return;
    }
    auto *client = new ReplayClient(this);
    const QString clientPrefix = address.protocol() == QAbstractSocket::IPv6Protocol
        ? QLatin1Char('[') + listener.host + QStringLiteral("]:")
        : listener.host + QLatin1Char(':');
    connect(client, &ReplayClient::connected, this, [this, clientPrefix, origin](quint16 port) {
        const QString client = clientPrefix + QString::number(port);
        // Its connection may already be listed.
        for (qsizetype row = m_store->connectionCount(); row-- > 0;) {
            const ConnectionRecord &record = m_store->connectionAt(row);
            if (record.client == client && !record.isClosed()) {
                m_origins.insert(record.id, origin);
                return;
            }
        }
        m_resendClients.insert(client, origin);
    });
    connect(client, &ReplayClient::finished, this, [this, client](const ReplayClient::Outcome &outcome) {
        if (outcome.error.isEmpty())
            emit message(tr("Sent again: %1, %2 bytes back").arg(outcome.status).arg(outcome.responseBytes));
        else
            emit problem(tr("Sending again failed: %1").arg(outcome.error));
        client->deleteLater();
    });
    client->start(plan);
}

void Resender::noteRecords(const QList<ConnectionRecord> &records)
{
    if (m_resendClients.isEmpty())
        return;
    for (const ConnectionRecord &record : records) {
        const auto found = m_resendClients.constFind(record.client);
        if (found != m_resendClients.cend()) {
            m_origins.insert(record.id, *found);
            m_resendClients.erase(found);
        }
    }
}
