#pragma once

#include "faultaction.h"
#include "flow.h"

#include <QString>

// The one door from core/faults into the connection its faults act on:
// what a fault may do to a connection, and nothing else. RelayConnection is
// one; a test's fake over a pair of legs is another.
//
// Contract: any call but the const ones may end the connection (a reset, a
// clean close completed); a caller that goes on afterwards asks
// isFinished() first.
class FaultTarget
{
public:
    using Side = Flow::Side;

    virtual Flow &flowTo(Side toward) = 0;
    virtual bool isFinished() const = 0;
    // Bytes move both ways (not still reaching the upstream, not ended).
    virtual bool isRelaying() const = 0;
    // A direction's conditions or holds changed (the flow's setters move
    // nothing): what may go goes (Flow::resume()), and its source is read
    // on by whoever reads it. Not from inside a call of any flow's.
    virtual void conditionsChanged(Flow &flow) = 0;
    // Acts on what a call on one of its flows reported (Flow::halt(),
    // dropHeld()) as on the connection's own; false when it has ended.
    virtual bool settle(Flow &flow, const FlowResult &result) = 0;
    // Sends side a reset (its unacknowledged bytes were never delivered),
    // unless it is closed or gone already.
    virtual void resetSide(Side side) = 0;
    // Passes a FIN on toward the flow's destination, once.
    virtual void passFin(Flow &flow) = 0;
    // Ends the connection as a fault's doing; with drain, what each side
    // sent and will not be relayed is read first, so that closing it sends
    // a FIN rather than a reset.
    virtual void endByFault(const QString &why, bool drain) = 0;
    // A fault fired (code: a FaultAction::Kind, or 0): marked on the
    // connection's lane of its life.
    virtual void markFault(qint32 code, const QString &why) = 0;
    // A filter of the connection's flows (the HTTP gate) changed its stop
    // on flow other than by answering flow's bytes: the flow takes its
    // filters' stop now (FlowObserver::stopAt()). Moves nothing.
    virtual void filterStopChanged(Flow &flow) = 0;
    // The record's words for what is done to the traffic now.
    virtual void describeConditions(const QString &text) = 0;

protected:
    ~FaultTarget() = default;
};
