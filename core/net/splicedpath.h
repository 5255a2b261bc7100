#pragma once

class Flow;

// The path of a bulk flow's bytes: spliced from the source into a pooled
// pipe and from there to the destination, never leaving the kernel, with
// its observer given a peek of what it needs (none, a prefix copied
// straight into place, or all). Part of its flow (a friend), as ShapedPath
// is; it keeps nothing of its own (the pipe is the flow's), so a flow makes
// one for each call. Reports into the flow's result.
class SplicedPath
{
public:
    explicit SplicedPath(Flow &flow) : m_flow(flow) {}

    // Splices while the flow is bulk, each splice one of *rounds: false
    // when the pump is over, true to copy on (no pipe to be had, or small
    // messages that an observer watches).
    bool pump(int *rounds);
    // What the pipe holds goes to the destination; false on a failure
    // (reported).
    bool drain();

private:
    // One splice() round: >0 moved, 0 EOF, -1 would block or failed
    // (reported), -2 no pipe to be had.
    int once(int capacity);

    Flow &m_flow;
};
