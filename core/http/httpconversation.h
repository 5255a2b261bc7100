#pragma once

#include "httpexchange.h"
#include "httpmessagestream.h"

#include <QQueue>

// Pairs the requests of one connection with their responses, in order, also
// when pipelined. Fed copies of the bytes each way as they are relayed, with
// the time they were seen; hands out each exchange once it is complete (or
// once the connection ended under it). If the client does not speak HTTP,
// the conversation turns raw and only keeps a prefix of each direction.
class HttpConversation
{
public:
    struct Limits
    {
        HttpHeadParser::Limits head;
        qsizetype bodyPrefixBytes = 1024 * 1024;
        qsizetype rawPrefixBytes = 64 * 1024;
    };

    // firstSequence: exchanges the connection had before this conversation
    // (a CONNECT, before the TLS inside the tunnel was read); secure: the
    // bytes came over TLS that proxymon decrypted or spoke.
    HttpConversation(quint64 connectionId, Limits limits, int firstSequence = 0, bool secure = false);

    void clientBytes(QByteArrayView data, qint64 nowMs);
    void upstreamBytes(QByteArrayView data, qint64 nowMs);
    // A direction's FIN came: a message that runs to the end of the
    // connection is complete, one announced longer is short. Once per
    // direction; bytes after it are not expected.
    void sourceEnded(bool fromClient, qint64 nowMs);
    // The connection ended: exchanges still open are handed out as they are.
    void finish(qint64 nowMs);

    QList<HttpExchange> takeFinished();
    // Moves the finished exchanges to the end of *to; keeps this side's
    // list allocated for the next ones.
    void moveFinishedTo(QList<HttpExchange> *to);
    bool hasFinished() const { return !m_finished.isEmpty(); }

    bool isRaw() const { return m_raw; }
    int requestCount() const { return m_firstSequence + m_sequence; }
    // Whether the bytes of a direction still matter to the capture; once
    // false it stays false, and the relay may move them without looking.
    bool wantsClientBytes() const;
    bool wantsUpstreamBytes() const;
    // The body bytes of a direction that the relay may pass without showing
    // them (ahead), and where the kept part of them goes (room): the relay
    // moves them by splice and reads the kept part straight into its place,
    // then says how many passed with bodyPassed(), which must follow every
    // bodyWindow() that gave room, with 0 when none passed.
    struct BodyWindow
    {
        quint64 ahead = 0;      // 0: the next bytes must be shown (clientBytes/upstreamBytes)
        char *room = nullptr;   // the next roomBytes of them are written here
        qsizetype roomBytes = 0;
    };
    BodyWindow bodyWindow(bool fromClient);
    void bodyPassed(bool fromClient, quint64 n, qint64 nowMs);

    // The first bytes of each direction (up to rawPrefixBytes) while the
    // conversation is raw or has not shown a request yet; empty once it did.
    const QByteArray &rawClientPrefix() const { return m_rawClient; }
    const QByteArray &rawUpstreamPrefix() const { return m_rawUpstream; }

private:
    void keepRaw(QByteArray *prefix, QByteArrayView data) const;
    void onRequestEvents(qint64 nowMs);
    void onResponseEvents(qint64 nowMs);
    void appendBody(QByteArray *body, QByteArrayView bytes) const;
    void reserveBody(QByteArray *body, quint64 length) const;
    // The body being received in a direction: its kept prefix and its size
    // so far, both null unless the bytes there are body bytes of an exchange.
    struct BodyRef
    {
        QByteArray *kept = nullptr;
        quint64 *size = nullptr;
    };
    BodyRef currentBody(bool fromClient);

    const quint64 m_connectionId;
    const Limits m_limits;
    const int m_firstSequence;
    const bool m_secure;
    HttpMessageStream m_requests;
    HttpMessageStream m_responses;
    QList<HttpMessageStream::Event> m_events;
    QQueue<HttpExchange> m_open;        // requests seen, final response not ended
    QList<HttpExchange> m_finished;
    int m_sequence = 0;                 // requests seen by this conversation
    qint64 m_requestBytesSince = 0;     // when the current request's first byte came
    qint64 m_responseBytesSince = 0;
    bool m_inRequest = false;           // a request head or body is under way
    bool m_raw = false;
    qsizetype m_roomGiven[2] = {0, 0}; // by bodyWindow(), per direction (upstream, client)
    QByteArray m_rawClient;
    QByteArray m_rawUpstream;
};
