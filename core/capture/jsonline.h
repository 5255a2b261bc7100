#pragma once

#include <QByteArray>
#include <QString>

// Builds one JSON object on one line with its keys in the order written, so
// that every JSONL line starts with its "event" and reads naturally.
class JsonLine
{
public:
    JsonLine &add(const char *key, const QString &value);
    JsonLine &add(const char *key, qint64 value);
    JsonLine &addRaw(const char *key, const QByteArray &json); // value already JSON
    // Microseconds written as milliseconds with three decimals ("200.125").
    JsonLine &addMs(const char *key, qint64 us);

    // The finished object and its newline.
    QByteArray finish() const;

    static QByteArray quoted(const QString &text);
    static QByteArray milliseconds(qint64 us);
    // Bytes off the wire: valid UTF-8 is kept, control characters are
    // escaped, and every byte that is not UTF-8 is written as the text \xNN,
    // so nothing is lost or corrupted.
    static QByteArray quotedBytes(QByteArrayView bytes);
    // Bytes that must come back exactly (sessions): a JSON string when they
    // are UTF-8, else {"base64":"..."}. bytesFrom() reads either back.
    static QByteArray exactBytes(QByteArrayView bytes);

private:
    void key(const char *name);

    QByteArray m_body;
};
