#pragma once

#include "flow.h"
#include "leg.h"

#include <utility>
#include <vector>

// What a forwarding connection does with a flow's news, for tests that drive
// a Flow alone: a FIN read is passed on once everything before it is
// delivered; the rest is counted.
struct ForwardingOwner final : Flow::Owner
{
    explicit ForwardingOwner(Leg &destination) : destination(destination) {}

    void flowActive() override {}
    void flowDelivered() override { ++deliveredNotes; }
    void flowEnded(Flow &flow) override
    {
        ++ended;
        flow.markEnded();
        if (!flow.pending())
            flowFinDue(flow);
    }
    void flowFinDue(Flow &flow) override
    {
        if (flow.finPassed())
            return;
        flow.markFinPassed();
        ++finsPassed;
        destination.shutdownWrite();
    }
    void flowFailed(Flow::Side side, int error) override { failures.push_back({side, error}); }
    void flowYield(Flow &) override { ++yields; }
    void flowFirstBytes(Flow &) override { ++firstBytes; }
    void flowWaited(Flow &, qint64 sinceUs, qint64 untilUs) override { waits.push_back({sinceUs, untilUs}); }
    // As a connection does: the destination reads the end of the stream.
    void flowLimitReached(Flow &flow) override
    {
        ++limitsReached;
        flow.setPaused(true);
        flowFinDue(flow);
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
