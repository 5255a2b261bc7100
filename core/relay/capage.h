#pragma once

#include <QByteArray>
#include <QObject>
#include <QTcpServer>

#include <memory>

class CertificateAuthority;

// http://proxymon.test/, as a client of the HTTP proxy reaches it: a page
// that serves proxymon's CA certificate (PEM and DER) with the commands to
// trust it, and says whether interception works for that client. The HTTP
// proxy routes proxymon.test here: plain requests to one port, CONNECT
// tunnels (TLS that proxymon decrypts, then plain HTTP) to the other, so
// the page knows which way it was reached. Small and rare traffic: served
// on the server's thread with Qt's sockets, never blocking it.
class CaPage : public QObject
{
    Q_OBJECT
public:
    static constexpr const char *Host = "proxymon.test";

    explicit CaPage(QObject *parent = nullptr);
    ~CaPage() override;

    bool start(QString *error);
    quint16 plainPort() const { return m_plain.serverPort(); }
    quint16 decryptedPort() const { return m_decrypted.serverPort(); }
    // The authority the page offers; null while decryption is off.
    void setAuthority(std::shared_ptr<CertificateAuthority> authority) { m_authority = std::move(authority); }

    // The whole response to a request for target, reached over TLS that
    // proxymon decrypted or not.
    static QByteArray response(QByteArrayView method, QByteArrayView target, bool decrypted,
                               const CertificateAuthority *authority);

private:
    void serve(QTcpServer &server, bool decrypted);

    QTcpServer m_plain;
    QTcpServer m_decrypted;
    std::shared_ptr<CertificateAuthority> m_authority;
};
