#include "subnetlist.h"

#include <QStringList>

bool SubnetList::parse(const QString &text, QString *error)
{
    QList<QPair<QHostAddress, int>> parsed;
    for (const QString &part : text.split(u',', Qt::SkipEmptyParts)) {
        const QString item = part.trimmed();
        if (item.isEmpty())
            continue;
        QPair<QHostAddress, int> subnet = item.contains(u'/')
            ? QHostAddress::parseSubnet(item)
            : qMakePair(QHostAddress(item), item.contains(u':') ? 128 : 32);
        if (subnet.first.isNull() || subnet.second < 0) {
            *error = QStringLiteral("'%1' is not an address or ADDR/PREFIX").arg(item);
            return false;
        }
        parsed.append(subnet);
    }
    m_subnets = parsed;
    return true;
}

bool SubnetList::contains(const QHostAddress &address) const
{
    bool mapped = false;
    const quint32 v4 = address.toIPv4Address(&mapped);
    const QHostAddress plain = mapped ? QHostAddress(v4) : address;
    for (const auto &subnet : m_subnets) {
        if (plain.isInSubnet(subnet) || address.isInSubnet(subnet))
            return true;
    }
    return false;
}

QString SubnetList::toString() const
{
    QStringList parts;
    for (const auto &subnet : m_subnets)
        parts.append(QStringLiteral("%1/%2").arg(subnet.first.toString()).arg(subnet.second));
    return parts.join(u',');
}
