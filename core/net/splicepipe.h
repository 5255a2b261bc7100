#pragma once

#include "pipepool.h"

#include <QtGlobal>

#include <sys/types.h>

class Leg;

// Where a flow's spliced bytes wait between its legs, inside the kernel:
// a pipe borrowed from the worker's pool while bytes are in it, given back
// once it is empty, and closed (not given back) if the flow ends with
// bytes in it.
class SplicePipe
{
public:
    int size() const { return m_piped; }
    bool isEmpty() const { return m_piped == 0; }

    // A pipe for the next fill, unless one is borrowed already; false when
    // the pool has none to give.
    bool borrow(PipePool &pool) { return m_pipe.isValid() || pool.take(&m_pipe); }
    // Splices up to length bytes from source into the empty pipe; returns
    // as Leg::readToPipe() does.
    ssize_t fill(Leg &source, size_t length);
    // Splices what it holds into destination until it would block, and
    // returns how many bytes went; *error is set (0 otherwise) when the
    // destination failed.
    qsizetype drain(Leg &destination, int *error);
    // Gives the pipe back if it is empty.
    void giveBackIfEmpty(PipePool &pool);
    // Frees the pipe: given back when empty, closed with bytes in it.
    void release(PipePool &pool);

private:
    PipePool::Pipe m_pipe;
    int m_piped = 0;
};
