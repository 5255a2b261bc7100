#pragma once

#include "connectionrecord.h"
#include "httpexchange.h"

#include <QList>
#include <QString>

// The filter field's language, applied to connections and exchanges alike.
// Words are matched, case-insensitively, anywhere in what a row shows;
// field terms narrow to one field:
//
//   host:example     the Host header or request target, or the upstream
//   status:404  status:4xx  status:>=400
//   method:post      client:127.0.0.1:5    state:open|closed|reset|failed|...
//   is:flagged (malformed, truncated, or a smuggling risk), is:malformed,
//   is:truncated, is:smuggling (ambiguous framing, stray control bytes,
//   lax chunk lines), is:raw, is:live, is:error
//   -term            excludes; "quoted words" keep their spaces
//
// All terms must hold. An exchange is judged with its connection's record;
// a connection matches on its own record, or when one of its exchanges
// matches (matchesConnection() and matchesExchange() give both halves).
class CaptureFilter
{
public:
    CaptureFilter() = default;
    // Never fails: an unknown field or a bad status is an error that the
    // window shows, and the term is then taken as a plain word.
    static CaptureFilter parse(const QString &text, QString *error = nullptr);

    bool isEmpty() const { return m_terms.isEmpty(); }

    // Judged on the record alone.
    bool matchesConnection(const ConnectionRecord &record) const;
    // Judged on the exchange and its connection's record (nullptr when the
    // record is no longer held).
    bool matchesExchange(const HttpExchange &exchange, const ConnectionRecord *record) const;

private:
    enum class Field { Text, Host, Status, Method, Client, State, Is };
    struct Term
    {
        Field field = Field::Text;
        QString value;     // lower case
        bool negated = false;
        int statusLow = 0; // Status: the range it accepts
        int statusHigh = 0;
    };

    bool holds(const Term &term, const ConnectionRecord *record, const HttpExchange *exchange) const;
    bool matches(const ConnectionRecord *record, const HttpExchange *exchange) const;

    QList<Term> m_terms;
};
