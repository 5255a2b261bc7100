#pragma once

#include "httpmessagestream.h"
#include "httpproxyrequest.h"

#include <QByteArray>
#include <QString>

#include <deque>
#include <functional>

// The HTTP side of proxymon as a forward proxy, for one client connection:
// reads the client's requests (absolute-form "GET http://host/path" or
// "CONNECT host:port"), decides where each one goes, rewrites its head to
// origin form without the hop-by-hop headers, and follows the responses
// coming back so that it knows when an upstream may be reused or left.
//
// Pure logic over bytes: the relay owns the sockets and asks step() what to
// do next. Requests are answered in order: one to another host waits until
// every earlier response has ended, which keeps a keep-alive client's
// answers in the order it asked.
class HttpProxyFront
{
public:
    using Route = HttpProxyRequest::Route;
    using Answer = HttpProxyRequest::Answer;

    enum class Step {
        Wait,    // until more bytes come or a response ends
        Send,    // outgoing() holds bytes for the connected upstream
        Connect, // route(): connect there first (any current upstream is idle)
        Tunnel,  // route(): connect there, then answer 200 and relay opaquely
        Answer,  // answer(): send it, then close the client connection
    };

    // What the end of the upstream's bytes means for the client.
    enum class UpstreamEnd {
        Idle,   // nothing was owed: the upstream just goes away
        PassOn, // a response ran to the end of the connection: the client gets FIN too
        Failed, // a request got no answer: step() says Answer (502)
    };

    HttpProxyFront(HttpHeadParser::Limits limits, QByteArray viaToken);

    // Asked about each request head the front would carry out, in order:
    // an answer with a status makes proxymon answer that request itself,
    // as it answers a refusal, and the upstream never sees it (an HTTP
    // fault). Its time counts: the responses that follow are the ones to
    // the requests it was asked about.
    using Vetting = std::function<Answer(const HttpHead &request)>;
    void setVetting(Vetting vetting) { m_vetting = std::move(vetting); }

    // --- client side
    // Returns how many of the bytes belong to requests the front carries
    // out or answers: those after a refused request, or after one that
    // closes the connection (RFC 9112 9.6), are read and dropped unseen,
    // and the record should not show them either.
    qsizetype clientBytes(QByteArrayView data);
    void clientEnded();
    // False while too much waits for an upstream, and once the front has
    // decided to answer or to become a tunnel.
    bool wantsClientBytes(qsizetype capacity) const;
    bool clientHasEnded() const { return m_clientEnded; }

    // --- what to do
    Step step() const;
    const Route &route() const;          // Connect and Tunnel
    QByteArrayView outgoing() const;     // Send; Tunnel: the bytes that came after CONNECT
    void sent(qsizetype bytes);          // that many of outgoing() went out
    const Answer &answer() const;        // Answer
    // The relay's upstream now goes to route() over a new connection.
    void connected();
    // Connecting (or the upstream) failed before the waiting request got any
    // answer: proxymon answers it with status and why instead.
    void failed(int status, const QString &why);

    // --- upstream side
    // Response bytes, seen as they go to the client unchanged.
    void upstreamBytes(QByteArrayView data);
    UpstreamEnd upstreamEnded();
    // Bytes of a response have gone to the client and its end has not:
    // a failure now can only be passed on as a failure.
    bool responseUnderway() const { return m_responseUnderway; }
    // Requests handed to the upstream whose responses have not ended.
    int inFlight() const;
    // A 101 or a response that is not HTTP: from here on the connection is
    // opaque bytes between the client and the current upstream.
    bool becameOpaque() const { return m_opaque; }
    // The client was told (or asked) that the connection ends after the
    // last response: once that has ended and gone out, close.
    bool closeWhenIdle() const { return m_closeWhenIdle; }
    // Nothing is owed to the client and nothing waits to be sent.
    bool idle() const { return m_requests.empty(); }
    // The upstream connection may serve the next request to the same route.
    bool upstreamReusable() const { return m_connected && m_upstreamReusable; }
    bool hasUpstream() const { return m_connected; }
    const Route &connectedRoute() const { return m_route; }
    void upstreamClosed();

    // The answer's bytes, as a client gets them.
    static QByteArray answerBytes(const Answer &answer);
    static QByteArray tunnelEstablished();
    static QByteArray reasonPhrase(int status);

private:
    using Method = HttpProxyRequest::Method;

    struct Request
    {
        Route route;
        Method method = Method::Other;
        QByteArray wire;      // bytes not yet handed to the upstream, framed by proxymon
        bool complete = false; // the whole request has been read
        bool started = false;  // some of it went to the upstream
        bool persistent = true;
        bool tunnel = false;
        Answer answer;         // status != 0: proxymon answers it
    };

    void onHead(const HttpMessageStream::Event &head);
    void refuse(int status, const QString &why);
    void brokenBody(const QString &why);
    void answered(); // the first request's response has ended
    Request *current();       // the first request not wholly handed over
    const Request *current() const;

    const HttpHeadParser::Limits m_limits;
    const QByteArray m_via;
    Vetting m_vetting;
    HttpMessageStream m_in;
    HttpMessageStream m_out;
    QList<HttpMessageStream::Event> m_events;
    std::deque<Request> m_requests;
    qsizetype m_headBytes = 0;      // of the head being read
    qsizetype m_held = 0;           // wire bytes waiting
    Route m_route;                  // where the connected upstream goes
    bool m_connected = false;
    bool m_upstreamReusable = true;
    bool m_clientEnded = false;
    bool m_refused = false;         // an answer is queued: read no more
    bool m_readingLast = false;     // the request being read closes the connection
    bool m_lastRead = false;        // ... and it has been read: read no more
    bool m_responseUnderway = false;
    bool m_finalHead = false;       // the response under way is not a 1xx
    bool m_opaque = false;
    bool m_closeWhenIdle = false;
    Route m_emptyRoute;
};
