#pragma once

#include "flow.h"
#include "flowobserver.h"
#include "httpfault.h"
#include "httpheadparser.h"
#include "httpmessagestream.h"
#include "timerheap.h"

#include <QString>

#include <deque>
#include <vector>

class FaultDriver;
class FaultTarget;

// The HTTP faults of one connection (status, delay-head, cut-body,
// no-response), done where the bytes pass: it follows the requests and the
// responses on the connection's flows and answers stop (a Verdict; the
// flow reads on meanwhile, so the gate sees what follows) where a fault
// must act: at the start of a request head until the head is whole and
// decided, at the start of a response to delay or drop, a body's length
// in to cut. A stop it decides between a direction's bytes (on the other
// direction's, or when a delay is over) it tells its FaultTarget
// (filterStopChanged()). A fault's limit set by hand is the faults' own:
// the flow stops at the lower of the two. It is one of the connection's
// FlowFilters, before the capture, which sees what passes whether the gate
// follows it or not. It acts on the connection through its FaultTarget,
// and does what act() and closeCleanly() do through its FaultDriver.
//
// In forwarding it reads the requests from the client's flow; an HTTP
// proxy reads them itself (HttpProxyFront) and asks decide() for each,
// answering the ones it says. A direction it follows is never spliced,
// since a spliced byte is past any limit before it is seen; one it has
// stopped following (not HTTP) is.
class HttpFaultGate final : public FlowObserver
{
public:
    struct Rule
    {
        HttpFault fault;
        double probability = 1; // drawn for each matching request
        QString by;             // "fault rule 3", for the marks
    };

    HttpFaultGate(FaultTarget &target, FaultDriver &driver, const HttpHeadParser::Limits &limits,
                  std::vector<Rule> rules);
    ~HttpFaultGate() override;

    // Whether the gate reads the requests off the client's flow
    // (forwarding, and a tunnel an HTTP proxy handed over); starts over.
    void setReadsRequests(bool reads);
    // A request head, in order: what its response is to get, decided now.
    // Nonzero: proxymon answers it with that status (why says so), and
    // nothing of it may reach the upstream.
    int decide(const HttpHead &request, QString *why);
    // From now on the flows carry what was inside TLS: a new conversation.
    void startSecure();
    // The gate's limit on flow was met.
    void limitReached(Flow &flow);
    // The connection ended: no timer of the gate's may fire.
    void stop();

    // FlowObserver, for both flows; what the capture needs goes on to it.
    bool watching(bool fromClient) const override;
    Window window(bool fromClient) override;
    Verdict seen(bool fromClient, const char *data, qsizetype size) override;
    void passed(bool fromClient, quint64 bytes) override;
    quint64 stopAt(bool fromClient) const override;

private:
    // What the next response (the first in m_plans) is to get.
    struct Plan
    {
        const Rule *rule = nullptr; // null: nothing
        QString request;            // "GET /path", for the marks
        QString why;                // the answer's, when answered
        int status = 0;             // nonzero: proxymon answers it instead
        bool armed = false;         // its hold is in place
    };
    // What a hold on the flow toward the client waits for.
    enum class Hold : quint8 { None, Answer, Delay, Drop, Cut };

    // Whether the gate itself reads a direction's bytes (the requests
    // only where it reads them, and only while they are HTTP).
    bool following(bool fromClient) const;
    // In forwarding, a direction the gate no longer follows (not HTTP, a
    // tunnel, an upgraded protocol) splices again, as without the gate.
    void spliceWhereNotFollowing();
    void readRequests(const char *data, qsizetype size);
    void readResponses(const char *data, qsizetype size);
    const Rule *match(const HttpHead &request);
    // The next response's hold, if its plan has one and none is in place.
    void armNext();
    // Sets the gate's stop on flow (NoStop lifts it): the answer to the
    // bytes being shown, if they are flow's, else told to the target.
    void setStop(Flow &flow, quint64 at);
    // Holds the flow toward the client at byte at for plan's fault.
    void holdDown(Hold hold, quint64 at, const Plan &plan);
    void releaseDown();
    // What a reached limit sets off, outside the flow's own call.
    void settle();
    // The flows whose limits the gate changed take them up (Flow::resume()).
    void resumeFlows();
    // The held response's first byte came: its delay runs from now.
    void delayStarts();
    void delayOver();
    void answer();
    void note(const Plan &plan, const QString &what);
    void restart();

    FaultTarget &m_target;
    FaultDriver &m_driver;
    const std::vector<Rule> m_rules;
    const HttpHeadParser::Limits m_headLimits;
    HttpMessageStream m_requests;
    HttpMessageStream m_responses;
    QList<HttpMessageStream::Event> m_events;
    std::deque<Plan> m_plans;
    bool m_readsRequests = true;
    bool m_requestsHttp = true;   // false once the client's bytes are not HTTP
    bool m_responsesHttp = true;
    quint64 m_upSeen = 0;         // bytes shown each way
    quint64 m_downSeen = 0;
    quint64 m_requestStart = 0;   // where the next request starts, on the client's flow
    quint64 m_responseStart = 0;
    bool m_interim = false;       // the response being read is a 1xx
    bool m_upStopped = false;     // a request is answered by proxymon: nothing more goes up
    Hold m_hold = Hold::None;
    Plan m_held;                  // the plan of the hold (its response may have ended since)
    bool m_holdReached = false;
    bool m_delayStarted = false;
    MemberTimer<HttpFaultGate, &HttpFaultGate::settle> m_settle{*this};
    MemberTimer<HttpFaultGate, &HttpFaultGate::delayOver> m_delay{*this};
    MemberTimer<HttpFaultGate, &HttpFaultGate::resumeFlows> m_resume{*this};
    bool m_resumeWanted[2] = {false, false}; // up, down
    quint64 m_stops[2] = {NoStop, NoStop};    // the gate's stop on each
    int m_seeing = -1;                        // whose bytes are being shown (Up, Down)
};
