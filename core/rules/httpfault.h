#pragma once

#include <QByteArray>
#include <QRegularExpression>
#include <QString>

#include <atomic>
#include <memory>
#include <mutex>

struct HttpHead;

// A fault done to HTTP/1.x exchanges rather than to a connection: which
// requests it is for, which of those it takes, and what it does to them:
//
//   status:code=503,method=POST,path=^/api/
//   delay-head:delay=2s,host=example.com,every=3
//   cut-body:bytes=1000,then=reset,header=Accept:json
//   no-response:first=1
//
// status answers in place of the upstream, which never sees the request
// (the answer says Connection: close, and the connection closes after
// it); delay-head holds the response's first byte; cut-body lets so many
// body bytes of the response through and then closes (or resets) the
// connection; no-response lets the request reach the upstream and drops
// its response and everything after it, with the connection left open.
//
// first=N takes the first N matching requests, every=N every Nth, counted
// over the whole proxy while these rules are in force.
class HttpFault
{
public:
    enum class Kind : quint8 { Status, DelayHead, CutBody, NoResponse };

    // Whether name is one of the kinds above ("status", "delay-head", ...).
    static bool named(const QString &name, Kind *kind);
    explicit HttpFault(Kind kind = Kind::Status);

    // One key=value of the rule's text. *known is false for a key that is
    // not an HTTP fault's (the caller's own: client, probability); true,
    // and false returned with *error, for a value that is wrong.
    bool take(const QString &key, const QString &value, bool *known, QString *error);
    // After the last take(): false, with why, when a setting it needs is
    // missing.
    bool complete(QString *error) const;

    Kind kind() const { return m_kind; }
    int status() const { return m_status; }
    qint64 delayUs() const { return m_delayUs; }
    quint64 bodyBytes() const { return m_bodyBytes; }
    bool resetsAfterCut() const { return m_reset; }

    // Whether the request head is one this fault is for (its method, host,
    // path and header), before any counting.
    bool matches(const HttpHead &request) const;
    // A matching request came: whether first= and every= take it. Counts,
    // so it is asked once per matching request.
    bool takes() const;
    // Counting starts again, for this copy and those made from it from
    // now on (the rules are put in force again).
    void countAfresh();

    // "answer 503", "delay the response head by 2s", "cut the response
    // body after 1KB, then close", "send no response".
    QString describe() const;
    // "POST requests for ^/api/", "every request": what it is for.
    QString scope() const;

private:
    bool regexMatches(const QRegularExpression &expression, const QString &subject) const;

    Kind m_kind;
    int m_status = 0;
    qint64 m_delayUs = 0;
    quint64 m_bodyBytes = 0;
    bool m_haveBytes = false;
    bool m_reset = false;
    QByteArray m_method;   // empty: any
    QString m_host;        // empty: any; "*.example.com": it and its subdomains
    QRegularExpression m_path;
    QByteArray m_header;   // empty: any
    QRegularExpression m_headerValue;
    quint64 m_first = 0;
    quint64 m_every = 0;
    // Shared by the copies each worker holds: the counting is the proxy's,
    // and the patterns (whose copies share one compiled form) are matched
    // from several threads, one at a time.
    std::shared_ptr<std::atomic<quint64>> m_matched;
    std::shared_ptr<std::mutex> m_patterns;
};
