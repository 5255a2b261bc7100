#pragma once

#include "flow.h"
#include "leg.h"

#include <utility>
#include <vector>

// What a forwarding connection does with a flow's results, for tests that
// drive a Flow alone: a FIN read is passed on once everything before it is
// delivered; the rest is counted.
struct ForwardingOwner final
{
    explicit ForwardingOwner(Leg &destination) : destination(destination) {}

    // Acts on what one call on the flow returned; false when it reported a
    // failure.
    bool settle(Flow &flow, const FlowResult &result)
    {
        using Event = FlowResult::Event;
        if (result.has(Event::Delivered))
            ++deliveredNotes;
        if (result.has(Event::FirstBytes))
            ++firstBytes;
        if (result.has(Event::Waited))
            waits.push_back({result.waitSinceUs, result.waitUntilUs});
        if (result.has(Event::Ended)) {
            ++ended;
            flow.markEnded();
            if (!flow.pending())
                finDue(flow);
        }
        if (result.has(Event::Failed))
            failures.push_back({result.failedAt == FlowResult::At::Source ? flow.from() : flow.to(), result.error});
        // As a connection does: the destination reads the end of the stream.
        if (result.has(Event::LimitReached)) {
            ++limitsReached;
            flow.hold(Flow::HalfClose);
            finDue(flow);
        }
        if (result.has(Event::FinDue))
            finDue(flow);
        if (result.has(Event::Yield))
            ++yields;
        return !result.has(Event::Failed);
    }

    void finDue(Flow &flow)
    {
        if (flow.finPassed())
            return;
        flow.markFinPassed();
        ++finsPassed;
        destination.shutdownWrite();
    }

    Leg &destination;
    int deliveredNotes = 0;
    int ended = 0;
    int finsPassed = 0;
    int yields = 0;
    int firstBytes = 0;
    int limitsReached = 0;
    std::vector<std::pair<qint64, qint64>> waits; // monotonic µs
    std::vector<std::pair<Flow::Side, int>> failures;
};
