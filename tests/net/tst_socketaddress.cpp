// A socket address as text: what the records show for a client and an
// upstream, written by hand for IPv4, the same as inet_ntop() would.

#include "socketaddress.h"

#include <QTest>

#include <arpa/inet.h>

class tst_SocketAddress : public QObject
{
    Q_OBJECT

private slots:
    void ipv4AsInetNtopWritesIt()
    {
        // Every value of every octet, each beside the others' edges.
        for (const quint32 rest : {0u, 0x01010101u, 0x64646464u, 0xffffffffu}) {
            for (int position = 0; position < 4; ++position) {
                for (int value = 0; value < 256; ++value) {
                    const quint32 host = (rest & ~(0xffu << (8 * position))) | (quint32(value) << (8 * position));
                    sockaddr_in in{};
                    in.sin_family = AF_INET;
                    in.sin_addr.s_addr = htonl(host);
                    in.sin_port = htons(quint16(value * 257));
                    char expected[INET_ADDRSTRLEN] = {};
                    inet_ntop(AF_INET, &in.sin_addr, expected, sizeof expected);
                    const SocketAddress address = SocketAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&in), sizeof in);
                    QCOMPARE(address.toString(), QString::fromLatin1(expected) + u':' + QString::number(value * 257));
                }
            }
        }
    }

    void ipv6IsBracketed()
    {
        QCOMPARE(SocketAddress::fromHostAddress(QHostAddress(QStringLiteral("::1")), 8080).toString(),
                 QStringLiteral("[::1]:8080"));
        QCOMPARE(SocketAddress::fromHostAddress(QHostAddress(QStringLiteral("2001:db8::a:b")), 0).toString(),
                 QStringLiteral("[2001:db8::a:b]:0"));
        sockaddr_in6 mapped{};
        mapped.sin6_family = AF_INET6;
        mapped.sin6_port = htons(443);
        inet_pton(AF_INET6, "::ffff:10.0.0.1", &mapped.sin6_addr);
        QCOMPARE(SocketAddress::fromSockaddr(reinterpret_cast<sockaddr *>(&mapped), sizeof mapped).toString(),
                 QStringLiteral("[::ffff:10.0.0.1]:443"));
    }

    void otherFamiliesSaySo()
    {
        SocketAddress none;
        QVERIFY(none.toString().startsWith(QStringLiteral("(unknown address family")));
    }
};

QTEST_APPLESS_MAIN(tst_SocketAddress)
#include "tst_socketaddress.moc"
