#include "decryptionsetup.h"

#include "certificateauthority.h"
#include "tlsclientcontext.h"
#include "tlsinterception.h"
#include "tlskeylog.h"
#include "tlsservercontext.h"

#include <QFile>

DecryptionSetup::DecryptionSetup()
    : m_interception(std::make_shared<TlsInterception>())
{
}

DecryptionSetup::~DecryptionSetup() = default;

std::shared_ptr<const TlsClientContext> DecryptionSetup::start(const Settings &settings, QString *error)
{
    std::shared_ptr<TlsKeyLog> keyLog;
    if (!settings.keyLogFile.isEmpty() && !(keyLog = TlsKeyLog::open(settings.keyLogFile, error)))
        return nullptr;
    // Upstreams speak TLS for a tls: target and behind every intercepted
    // client; a CA file the user named that cannot be used stops the start.
    QString why;
    std::shared_ptr<const TlsClientContext> upstream =
        TlsClientContext::create(settings.upstreamCaFile, settings.insecureUpstream, keyLog, &why);
    if (!upstream) {
        *error = QStringLiteral("upstream TLS: %1").arg(why);
        return nullptr;
    }
    m_settings = settings;
    m_interception->setEnabled(settings.decrypt);
    m_interception->setHosts(TlsInterception::Hosts::Passthrough, settings.passthroughHosts);
    m_interception->setHosts(TlsInterception::Hosts::Insecure, settings.insecureHosts);
    m_keyLog = keyLog;
    if (settings.decrypt) {
        prepare();
    } else {
        m_interception->setServer(nullptr, QStringLiteral("decryption is off"));
        m_decrypting = false;
    }
    return upstream;
}

void DecryptionSetup::setEnabled(bool on, bool running)
{
    m_interception->setEnabled(on);
    m_settings.decrypt = on;
    if (on && running)
        prepare();
}

void DecryptionSetup::prepare()
{
    // Without an authority the proxy still runs and relays TLS unread: a
    // user who never looks inside HTTPS should not be stopped by, say, a
    // read-only home directory. Each passed-through row says why.
    QString error;
    const QString directory = m_settings.caDirectory.isEmpty() ? CertificateAuthority::defaultDirectory()
                                                               : m_settings.caDirectory;
    // Reloaded when the one on disk is another (replaced in the trust
    // dialog or by `proxymon --ca-replace`): leaves must come from the
    // authority the user was just told to trust.
    const auto replacedOnDisk = [&] {
        QFile file(m_authority->certificatePath());
        return !file.open(QIODevice::ReadOnly) || file.readAll() != m_authority->certificatePem();
    };
    if (!m_authority || m_authorityDirectory != directory || replacedOnDisk()) {
        m_authority = CertificateAuthority::open(directory, &error);
        m_authorityDirectory = directory;
        m_authorityError = error;
    }
    std::shared_ptr<const TlsServerContext> server;
    if (m_authority)
        server = TlsServerContext::create(m_authority, m_keyLog, &error);
    const QString unavailable = m_authority ? error : m_authorityError;
    m_interception->setServer(server, unavailable);
    m_decrypting = server != nullptr;
    if (!server)
        m_notice = QStringLiteral("TLS is relayed without decryption: %1").arg(unavailable);
}

std::shared_ptr<CertificateAuthority> DecryptionSetup::authority() const
{
    return m_decrypting && m_settings.decrypt ? m_authority : nullptr;
}

QString DecryptionSetup::authorityCertificatePath() const
{
    return m_authority ? m_authority->certificatePath() : QString();
}

QString DecryptionSetup::takeNotice()
{
    return std::exchange(m_notice, QString());
}
