#pragma once

#include <QHostAddress>
#include <QList>
#include <QPair>
#include <QString>

// Addresses and networks as users write them ("127.0.0.1", "10.0.0.0/8",
// "::1", comma-separated): who may connect, whom a condition or fault
// applies to.
class SubnetList
{
public:
    // False, with the part that is wrong in *error, when text is not such
    // a list; nothing changes then.
    bool parse(const QString &text, QString *error);
    bool isEmpty() const { return m_subnets.isEmpty(); }
    // An IPv4 client on a dual-stack socket (::ffff:a.b.c.d) matches its
    // IPv4 network.
    bool contains(const QHostAddress &address) const;
    // "192.168.0.0/16,::1/128"
    QString toString() const;
    bool operator==(const SubnetList &other) const { return m_subnets == other.m_subnets; }

private:
    QList<QPair<QHostAddress, int>> m_subnets;
};
