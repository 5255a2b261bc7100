#pragma once

#include <QtGlobal>

// The bytes a flow read and could not deliver yet: one contiguous block,
// allocated only while bytes wait (an idle connection holds none), read
// from the front and filled at the back. No I/O.
class FlowBuffer
{
public:
    FlowBuffer() = default;
    ~FlowBuffer() { release(); }

    FlowBuffer(const FlowBuffer &) = delete;
    FlowBuffer &operator=(const FlowBuffer &) = delete;

    bool isEmpty() const { return m_tail == m_head; }
    qsizetype size() const { return m_tail - m_head; }
    const char *data() const { return m_data + m_head; }
    bool isAllocated() const { return m_data != nullptr; }

    // Holds exactly these bytes, in a block of at least minimum (the
    // flows' buffer size): what a destination did not take of one read.
    void keep(const char *bytes, qsizetype length, qsizetype minimum);
    // Adds bytes after those held, growing the block by doubling from a
    // page: a flow of small delayed messages holds a little, a throttled
    // bulk transfer its whole buffer.
    void append(const char *bytes, qsizetype length);
    // The first length bytes went.
    void consume(qsizetype length) { m_head += length; }
    // Frees the block and what it held.
    void release();

private:
    void makeRoom(qsizetype wanted);

    char *m_data = nullptr;
    qsizetype m_capacity = 0;
    qsizetype m_head = 0;
    qsizetype m_tail = 0;
};
