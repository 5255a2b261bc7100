#pragma once

#include <QtGlobal>

#include <limits>

// A filter of a flow's bytes: something that looks at what a flow moves
// (the capture; the HTTP fault gate; the HTTP proxy's front reading
// responses; next HTTP/2 and WebSocket readers, breakpoints, scripts),
// told what passes without the flow knowing what it is, and answering each
// time whether the direction goes on or stops. Each call names the
// direction by its source: fromClient.
class FlowObserver
{
public:
    // A count of one direction's bytes from its first: no stop.
    static constexpr quint64 NoStop = std::numeric_limits<quint64>::max();

    // What the observer needs of the next bytes from one source.
    struct Window
    {
        // This many of the next bytes need only be counted (passed()), not
        // seen; 0 means every byte is to be seen.
        quint64 ahead = 0;
        // The first roomBytes of those bytes are copied here before passed().
        char *room = nullptr;
        qsizetype roomBytes = 0;
    };

    // A filter's answer for one direction: deliver on (NoStop), or stop
    // delivering at byte at of the direction (Envoy's StopIteration, with
    // a place, since a request head may start in the middle of a read).
    // The flow delivers nothing past the lowest stop of its filters and
    // reads on while its buffer has room, so that a filter sees what it
    // waits for. A filter lets go by its next answer, or, between bytes,
    // by telling its owner, who then asks stopAt() (a held response whose
    // delay is over; a stop decided on the other direction).
    struct Verdict
    {
        quint64 at = NoStop;

        static Verdict goOn() { return {}; }
        static Verdict stopAt(quint64 at) { return {at}; }
    };

    virtual ~FlowObserver() = default;

    // False once the observer no longer looks at that direction at all:
    // then it is shown nothing, and its stop there is asked of stopAt().
    virtual bool watching(bool fromClient) const = 0;
    virtual Window window(bool fromClient) = 0;
    // The bytes, before any of them is delivered; the answer holds for the
    // rest of the flow's call and after.
    virtual Verdict seen(bool fromClient, const char *data, qsizetype size) = 0;
    // After window(): that many bytes of ahead went by (0: none, and the
    // room given is not filled).
    virtual void passed(bool fromClient, quint64 bytes) = 0;
    // The direction's stop as the observer sees it now: its last answer,
    // or what it has told its owner since.
    virtual quint64 stopAt(bool fromClient) const
    {
        Q_UNUSED(fromClient);
        return NoStop;
    }
    // The source's FIN came, after every byte before it was seen or
    // passed: a body that runs to the end of the connection is whole.
    virtual void ended(bool fromClient) { Q_UNUSED(fromClient); }
};
