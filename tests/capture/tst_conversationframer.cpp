// A raw connection's kept bytes framed into messages each way and put back
// in the order the reads crossed.

#include "conversationframer.h"

#include <QTest>

using Framing = ConversationFramer::Framing;

class tst_ConversationFramer : public QObject
{
    Q_OBJECT
private slots:
    void lengthPrefixesBothEndiannesses();
    void fixedSizeAndCustomDelimiter();
    void readsBeyondTheBoundComeLast();
    void badFramingsAreNamed();

private:
    static ConnectionRecord recordOf(const QList<QPair<bool, QByteArray>> &reads);
};

ConnectionRecord tst_ConversationFramer::recordOf(const QList<QPair<bool, QByteArray>> &reads)
{
    ConnectionRecord record;
    record.raw = true;
    qint64 at = 0;
    for (const auto &[fromClient, bytes] : reads) {
        (fromClient ? record.clientPrefix : record.upstreamPrefix) += bytes;
        record.rawReads.append({at += 1000, qint32(bytes.size()), fromClient});
    }
    return record;
}

void tst_ConversationFramer::lengthPrefixesBothEndiannesses()
{
    // Two messages from the client in three reads (the second one split),
    // an answer between them; the last message cut off by the bound.
    const QByteArray first = QByteArray("\x00\x03", 2) + "abc";
    const QByteArray second = QByteArray("\x00\x05", 2) + "hello";
    const ConnectionRecord record = recordOf({{true, first + second.left(3)}, {false, QByteArray("\x00\x02", 2) + "ok"},
                                              {true, second.mid(3)}, {true, QByteArray("\x00\x09", 2) + "cut"}});
    Framing framing;
    QVERIFY(Framing::parse(QStringLiteral("length:2be"), &framing, nullptr));
    const QList<ConversationFramer::Message> messages = ConversationFramer::frame(record, framing);
    QCOMPARE(messages.size(), 4);
    QCOMPARE(messages[0].bytes, first);
    QCOMPARE(messages[1].bytes, second); // starts in the first read: before the answer
    QVERIFY(messages[1].fromClient && !messages[1].incomplete);
    QCOMPARE(messages[2].bytes, QByteArray("\x00\x02", 2) + "ok");
    QVERIFY(!messages[2].fromClient);
    QCOMPARE(messages[2].atUs, 2000);
    QVERIFY(messages[3].incomplete);

    // Little-endian 4-byte prefixes.
    const QByteArray little = QByteArray("\x02\x00\x00\x00", 4) + "hi" + QByteArray("\x01\x00\x00\x00", 4) + "!";
    QVERIFY(Framing::parse(QStringLiteral("length:4le"), &framing, nullptr));
    const QList<ConversationFramer::Message> pieces = ConversationFramer::frame(recordOf({{false, little}}), framing);
    QCOMPARE(pieces.size(), 2);
    QCOMPARE(pieces[1].bytes, QByteArray("\x01\x00\x00\x00", 4) + "!");
}

void tst_ConversationFramer::fixedSizeAndCustomDelimiter()
{
    const ConnectionRecord record = recordOf({{true, "aaaabbbbcc"}, {false, QByteArray("x\x1ey\x1e", 4)}});
    Framing framing;
    QVERIFY(Framing::parse(QStringLiteral("fixed:4"), &framing, nullptr));
    QList<ConversationFramer::Message> messages = ConversationFramer::frame(record, framing);
    QCOMPARE(messages.size(), 4); // aaaa bbbb cc | x.y.
    QCOMPARE(messages[2].bytes, QByteArray("cc"));
    QVERIFY(messages[2].incomplete);
    QVERIFY(Framing::parse(QStringLiteral("delimiter:\\x1e"), &framing, nullptr));
    QCOMPARE(framing.delimiter, QByteArray("\x1e"));
    messages = ConversationFramer::frame(record, framing);
    QCOMPARE(messages.size(), 3);
    QCOMPARE(messages[1].bytes, QByteArray("x\x1e"));
    QCOMPARE(messages[2].bytes, QByteArray("y\x1e"));
    QCOMPARE(framing.describe(), QStringLiteral("delimiter:\\x1e"));
}

void tst_ConversationFramer::readsBeyondTheBoundComeLast()
{
    // More bytes than the reads kept account for (a file without reads, or
    // reads past the bound): they follow, each side's as one read.
    ConnectionRecord record = recordOf({{true, "ping\n"}});
    record.clientPrefix += "more\n";
    record.upstreamPrefix = "pong\n";
    record.rawReadsCut = true;
    Framing framing;
    QVERIFY(Framing::parse(QStringLiteral("line"), &framing, nullptr));
    const QList<ConversationFramer::Message> messages = ConversationFramer::frame(record, framing);
    QCOMPARE(messages.size(), 3);
    QCOMPARE(messages[0].bytes, QByteArray("ping\n"));
    QCOMPARE(messages[1].bytes, QByteArray("more\n"));
    QCOMPARE(messages[2].bytes, QByteArray("pong\n"));
    const QString text = ConversationFramer::render(messages, false);
    QVERIFY2(text.startsWith(QStringLiteral("▶ client    1.000 ms  5 bytes\nping\n\n▶ client    1.000 ms  5 bytes\nmore\n")), qPrintable(text));
}

void tst_ConversationFramer::badFramingsAreNamed()
{
    Framing framing;
    QString error;
    QVERIFY(!Framing::parse(QStringLiteral("length:3"), &framing, &error));
    QVERIFY(error.contains(QLatin1String("1, 2 or 4")));
    QVERIFY(!Framing::parse(QStringLiteral("fixed:0"), &framing, &error));
    QVERIFY(!Framing::parse(QStringLiteral("delimiter:"), &framing, &error));
    QVERIFY(!Framing::parse(QStringLiteral("delimiter:\\xZ1"), &framing, &error));
    QVERIFY(error.contains(QLatin1String("hex")));
    QVERIFY(!Framing::parse(QStringLiteral("words"), &framing, &error));
    QVERIFY(error.contains(QLatin1String("not a framing")));
}

QTEST_GUILESS_MAIN(tst_ConversationFramer)
#include "tst_conversationframer.moc"
