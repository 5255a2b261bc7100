#pragma once

#include "connectionrecord.h"
#include "httpexchange.h"

#include <QList>
#include <QString>

class QIODevice;
class QJsonObject;

// Reads a capture back from a file: a saved session, a headless JSONL
// stream (with --bodies it is as whole as a session; without, bodies are
// missing and heads are rebuilt from their parsed form), or a HAR file
// (HarReader, best effort). Refuses anything else, or a file cut short,
// with the line and what was wrong, and returns nothing then: the caller's
// capture stays as it was.
class SessionReader
{
public:
    struct Result
    {
        QList<ConnectionRecord> records;
        QList<HttpExchange> exchanges;
        QString kind;  // "session", "jsonl" or "har"
        QString error; // empty when it was read
        bool ok() const { return error.isEmpty(); }
    };

    static Result readFile(const QString &path);
    static Result read(const QByteArray &contents);

private:
    static QString readRecordFields(const QJsonObject &object, ConnectionRecord *record);
    static QString readExchange(const QJsonObject &object, HttpExchange *exchange);
};
