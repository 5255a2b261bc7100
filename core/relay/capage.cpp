#include "capage.h"

#include "certificateauthority.h"
#include "trustinstructions.h"

#include <QTcpSocket>

namespace {

constexpr qsizetype MaxRequestHead = 16 * 1024;

QByteArray message(int status, const QByteArray &reason, const QByteArray &type, const QByteArray &body,
                   const QByteArray &extra = QByteArray())
{
    return "HTTP/1.1 " + QByteArray::number(status) + ' ' + reason + "\r\nContent-Type: " + type
        + "\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\nCache-Control: no-store\r\n" + extra
        + "Connection: close\r\n\r\n" + body;
}

QByteArray escaped(const QString &text)
{
    return text.toHtmlEscaped().toUtf8();
}

} // namespace

CaPage::CaPage(QObject *parent)
    : QObject(parent)
{
    connect(&m_plain, &QTcpServer::newConnection, this, [this] { serve(m_plain, false); });
    connect(&m_decrypted, &QTcpServer::newConnection, this, [this] { serve(m_decrypted, true); });
}

CaPage::~CaPage() = default;

bool CaPage::start(QString *error)
{
    for (QTcpServer *server : {&m_plain, &m_decrypted}) {
        if (!server->isListening() && !server->listen(QHostAddress::LocalHost, 0)) {
            *error = QStringLiteral("cannot start the page at http://%1/: %2")
                         .arg(QLatin1String(Host), server->errorString());
            return false;
        }
    }
    return true;
}

void CaPage::serve(QTcpServer &server, bool decrypted)
{
    while (QTcpSocket *socket = server.nextPendingConnection()) {
        connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
        connect(socket, &QTcpSocket::readyRead, socket, [this, socket, decrypted] {
            if (socket->property("answered").toBool()) {
                socket->readAll();
                return;
            }
            QByteArray head = socket->property("head").toByteArray() + socket->readAll();
            const qsizetype end = head.indexOf("\r\n\r\n");
            if (end < 0 && head.size() < MaxRequestHead) {
                socket->setProperty("head", head);
                return;
            }
            // One request, one answer, then the connection closes.
            socket->setProperty("answered", true);
            const QList<QByteArray> line = head.left(head.indexOf("\r\n")).split(' ');
            socket->write(response(line.value(0), line.value(1), decrypted, m_authority.get()));
            socket->disconnectFromHost();
        });
    }
}

QByteArray CaPage::response(QByteArrayView method, QByteArrayView target, bool decrypted,
                            const CertificateAuthority *authority)
{
    if (method != "GET" && method != "HEAD")
        return message(405, "Method Not Allowed", "text/plain; charset=utf-8", "GET only\n", "Allow: GET, HEAD\r\n");
    const QByteArrayView path = target.startsWith("http://") ? target.sliced(qMax<qsizetype>(0, target.indexOf('/', 7))) : target;
    if (authority && path == "/proxymon-ca.pem")
        return message(200, "OK", "application/x-pem-file", authority->certificatePem(),
                       "Content-Disposition: attachment; filename=\"proxymon-ca.pem\"\r\n");
    if (authority && path == "/proxymon-ca.der")
        return message(200, "OK", "application/x-x509-ca-cert", authority->certificateDer(),
                       "Content-Disposition: attachment; filename=\"proxymon-ca.der\"\r\n");
    if (path != "/" && !path.isEmpty())
        return message(404, "Not Found", "text/plain; charset=utf-8", "Not found: try http://proxymon.test/\n");

    QByteArray body = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>proxymon</title></head><body>\n"
                      "<h1>proxymon</h1>\n";
    if (decrypted) {
        body += "<p id=\"verdict\"><strong>Interception works for this client.</strong> This page reached you over "
                "TLS that proxymon ended with its own certificate: your client trusts proxymon's certificate "
                "authority, and proxymon shows what is inside its HTTPS.</p>\n";
    } else {
        body += "<p id=\"verdict\">You reached proxymon through its HTTP proxy, over plain HTTP. To see inside this "
                "client's HTTPS, make it trust proxymon's certificate authority (below), then open "
                "<a href=\"https://proxymon.test/\">https://proxymon.test/</a>: if that page loads without a "
                "warning and says <em>Interception works</em>, it does. A certificate warning there means the "
                "client does not trust the authority yet.</p>\n";
    }
    if (!authority) {
        body += "<p>Decryption is off in proxymon, so it offers no certificate authority now.</p>\n";
    } else {
        body += "<h2>proxymon's certificate authority</h2>\n<p>SHA-256 fingerprint: <code>"
            + escaped(authority->fingerprint()) + "</code><br>valid until "
            + escaped(authority->validUntil().toString(Qt::ISODate))
            + "</p>\n<p><a href=\"/proxymon-ca.pem\">proxymon-ca.pem</a> (PEM) · "
              "<a href=\"/proxymon-ca.der\">proxymon-ca.der</a> (DER)</p>\n<h2>Trusting it</h2>\n<dl>\n";
        for (const TrustInstructions::Step &step : TrustInstructions::forCertificate(authority->certificatePath()))
            body += "<dt>" + escaped(step.who) + "</dt><dd><pre>" + escaped(step.command) + "</pre></dd>\n";
        body += "</dl>\n";
    }
    body += "</body></html>\n";
    QByteArray answer = message(200, "OK", "text/html; charset=utf-8", body);
    if (method == "HEAD")
        answer.truncate(answer.indexOf("\r\n\r\n") + 4);
    return answer;
}
