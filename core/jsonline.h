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

    // The finished object and its newline.
    QByteArray finish() const;

    static QByteArray quoted(const QString &text);

private:
    void key(const char *name);

    QByteArray m_body;
};
