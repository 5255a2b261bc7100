#pragma once

#include "flowobserver.h"

#include <array>
#include <memory>
#include <vector>

// The observers of one connection's flows, in a list, given to the flows
// as one observer. Each sees the bytes of the directions it watches, in the
// order they were added: those that decide what the flows do (the HTTP
// fault gate) before the capture, which records what was done. A new
// watcher of a direction's bytes (an HTTP/2 or WebSocket reader, a
// breakpoint, a script) is one more entry here, not code in the connection.
//
// Each answers continue or stop (Verdict); the list answers with the
// lowest stop of them all, those not watching the direction standing by
// their stopAt(), so that no filter lifts another's stop.
//
// Bytes go by unseen (spliced, counted only) only when every observer
// watching the direction lets them: the list's window is the shortest
// stretch any of them lets go by, with the largest room any of them asked
// for; each then gets its own room's share of the copied bytes before
// passed().
class FlowFilters final : public FlowObserver
{
public:
    // observer outlives the list's use by the flows, or is removed first;
    // after either, the flows are to be given forFlows() again (it may be
    // another observer now).
    void add(FlowObserver *observer);
    void remove(FlowObserver *observer);
    // What the flows are to be given: null when there is no observer, the
    // only one itself (no list in the way), else the list.
    FlowObserver *forFlows();

    bool watching(bool fromClient) const override;
    Window window(bool fromClient) override;
    Verdict seen(bool fromClient, const char *data, qsizetype size) override;
    void passed(bool fromClient, quint64 bytes) override;
    quint64 stopAt(bool fromClient) const override;
    void ended(bool fromClient) override;

private:
    struct Asked
    {
        FlowObserver *observer;
        Window window;
    };
    // What window() gave and asked of one direction, until passed().
    struct Stretch
    {
        std::vector<Asked> asked;
        Window given;
    };

    std::vector<FlowObserver *> m_observers;
    // Made on the first window(): a flow given a lone observer (forFlows())
    // never asks the list, and a connection keeps this for each direction.
    std::unique_ptr<std::array<Stretch, 2>> m_stretches;
};
