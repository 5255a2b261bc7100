#pragma once

#include <vector>

// Pipes for splice(): with one, bytes move from one socket to another
// without being copied through user space. A flow borrows a pipe for a bulk
// transfer and gives it back empty; a pipe that still holds data when its
// connection ends is closed instead. Worker thread only.
class PipePool
{
public:
    struct Pipe
    {
        int read = -1;
        int write = -1;
        bool isValid() const { return read >= 0; }
    };

    explicit PipePool(int capacityBytes);
    ~PipePool();

    PipePool(const PipePool &) = delete;
    PipePool &operator=(const PipePool &) = delete;

    // False when no pipe can be had (out of descriptors): copy instead.
    bool take(Pipe *pipe);
    // For an empty pipe.
    void give(Pipe *pipe);
    // For a pipe that may hold data.
    static void discard(Pipe *pipe);
    // Closes the idle pipes.
    void clear();

private:
    const int m_capacity;
    std::vector<Pipe> m_idle;
};
