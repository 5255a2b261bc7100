// A record's TLS details live out of line and are shared between copies:
// a record with no TLS carries none, and writing one record's never
// changes a copy taken before (the snapshots a worker publishes).

#include "connectionrecord.h"

#include <QTest>

class tst_ConnectionRecord : public QObject
{
    Q_OBJECT
private slots:
    void aRecordWithoutTlsReadsEmpty();
    void writingTlsLeavesEarlierCopiesAsTheyWere();
};

void tst_ConnectionRecord::aRecordWithoutTlsReadsEmpty()
{
    ConnectionRecord record;
    QVERIFY(record.clientTls().isEmpty());
    QVERIFY(record.upstreamTls().isEmpty());
    QCOMPARE(record.upstreamTls().handshakeMs, -1);
    record.setClientTls(TlsDetails()); // nothing to keep
    QVERIFY(record.clientTls().isEmpty());
    QCOMPARE(record.clientTls().summary(), QString());
}

void tst_ConnectionRecord::writingTlsLeavesEarlierCopiesAsTheyWere()
{
    ConnectionRecord live;
    live.clientTlsToWrite().serverName = QStringLiteral("example.test");
    const ConnectionRecord before = live; // a snapshot
    TlsDetails upstream;
    upstream.version = QStringLiteral("TLSv1.3");
    upstream.cipher = QStringLiteral("TLS_AES_128_GCM_SHA256");
    live.setUpstreamTls(upstream);
    live.clientTlsToWrite().version = QStringLiteral("TLSv1.2");

    QCOMPARE(before.clientTls().serverName, QStringLiteral("example.test"));
    QVERIFY(before.clientTls().version.isEmpty());
    QVERIFY(before.upstreamTls().isEmpty());
    QCOMPARE(live.clientTls().serverName, QStringLiteral("example.test"));
    QCOMPARE(live.clientTls().version, QStringLiteral("TLSv1.2"));
    QCOMPARE(live.upstreamTls().summary(), QStringLiteral("TLSv1.3 TLS_AES_128_GCM_SHA256"));

    // And the other way: a copy written leaves the one it came from.
    ConnectionRecord copy = live;
    copy.upstreamTlsToWrite().verification = QStringLiteral("ok");
    QVERIFY(live.upstreamTls().verification.isEmpty());
    QCOMPARE(copy.upstreamTls().verification, QStringLiteral("ok"));
}

QTEST_GUILESS_MAIN(tst_ConnectionRecord)
#include "tst_connectionrecord.moc"
