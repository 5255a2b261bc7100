#pragma once

#include "connectionrecord.h"

#include <QByteArray>
#include <QList>
#include <QString>

// A raw connection's kept bytes as the conversation it was: each side's
// stream cut into messages the way the user says its protocol frames them,
// the two sides put back in the order their reads crossed. A Redis, SMTP
// or the lab's echo session reads as alternating blocks.
class ConversationFramer
{
public:
    struct Framing
    {
        enum class Kind : quint8 { ByRead, Delimiter, LengthPrefix, Fixed };
        Kind kind = Kind::ByRead;
        QByteArray delimiter = "\n"; // Delimiter: ends each message (kept in it)
        int prefixBytes = 2;         // LengthPrefix: 1, 2 or 4 bytes of length before each payload
        bool bigEndian = true;
        int fixedBytes = 16;         // Fixed: every message this long

        // "read", "line" (\n), "crlf" (\r\n), "delimiter:TEXT" (C escapes
        // such as \0 or \xNN allowed), "length:1", "length:2be",
        // "length:4le", "fixed:N". False with the reason otherwise.
        static bool parse(const QString &text, Framing *framing, QString *error);
        QString describe() const;
    };

    struct Message
    {
        bool fromClient = true;
        qint64 atUs = 0;   // the read that brought its first byte
        QByteArray bytes;  // as framed, delimiter or length prefix included
        bool incomplete = false; // the kept bytes end inside it
    };

    static QList<Message> frame(const ConnectionRecord &record, const Framing &framing);
    // The conversation as text: a line per message (direction, time, size),
    // then its bytes, readable or as a hex dump. What the view shows and
    // its export writes.
    static QString render(const QList<Message> &messages, bool hex);
};
