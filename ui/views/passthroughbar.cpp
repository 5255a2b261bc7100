#include "passthroughbar.h"

#include "bannerstyle.h"
#include "tlsinterception.h"

PassthroughBar::PassthroughBar(TlsInterception &interception, QWidget *parent)
    : QLabel(parent)
    , m_interception(interception)
{
    setObjectName(QStringLiteral("passthroughBar"));
    setWordWrap(true);
    setTextFormat(Qt::RichText);
    setStyleSheet(BannerStyle::warning());
    connect(this, &QLabel::linkActivated, this, &PassthroughBar::undo);
    refresh();
}

void PassthroughBar::exclude(const QString &host)
{
    m_interception.addHost(TlsInterception::Hosts::Passthrough, host);
    if (!m_excluded.contains(host, Qt::CaseInsensitive))
        m_excluded.append(host);
    refresh();
}

void PassthroughBar::undo(const QString &link)
{
    if (!link.startsWith(QLatin1String("decrypt:")))
        return;
    const QString host = link.mid(8);
    m_interception.forgetRejection(host);
    m_interception.removeHost(TlsInterception::Hosts::Passthrough, host);
    m_excluded.removeAll(host);
    refresh();
}

void PassthroughBar::refresh()
{
    QStringList items;
    const auto item = [](const QString &host, const QString &why) {
        return tr("<b>%1</b> (%2) <a href=\"decrypt:%1\">decrypt again</a>").arg(host.toHtmlEscaped(), why.toHtmlEscaped());
    };
    for (const TlsInterception::Rejection &rejection : m_interception.rejections())
        items.append(item(rejection.host, tr("its client rejected proxymon's certificate")));
    const QStringList passthrough = m_interception.hosts(TlsInterception::Hosts::Passthrough);
    for (const QString &host : std::as_const(m_excluded)) {
        if (passthrough.contains(host, Qt::CaseInsensitive))
            items.append(item(host, tr("excluded")));
    }
    setText(tr("Not decrypted this session: %1").arg(items.join(QStringLiteral(" · "))));
    setVisible(!items.isEmpty());
}
