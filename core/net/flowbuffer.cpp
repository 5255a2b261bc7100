#include "flowbuffer.h"

#include <cstdlib>
#include <cstring>

void FlowBuffer::keep(const char *bytes, qsizetype length, qsizetype minimum)
{
    if (m_data && m_capacity < length)
        release();
    if (!m_data) {
        m_capacity = qMax(length, minimum);
        m_data = static_cast<char *>(std::malloc(size_t(m_capacity)));
    }
    std::memcpy(m_data, bytes, size_t(length));
    m_head = 0;
    m_tail = length;
}

void FlowBuffer::append(const char *bytes, qsizetype length)
{
    if (length <= 0)
        return;
    makeRoom(length);
    std::memcpy(m_data + m_tail, bytes, size_t(length));
    m_tail += length;
}

void FlowBuffer::makeRoom(qsizetype wanted)
{
    if (m_head == m_tail)
        m_head = m_tail = 0;
    if (m_capacity - m_tail >= wanted)
        return;
    // Moving what is held to the front is rare: a shaped flow reads only
    // once a quarter of its buffer is free.
    const qsizetype held = m_tail - m_head;
    if (m_head > 0) {
        std::memmove(m_data, m_data + m_head, size_t(held));
        m_head = 0;
        m_tail = held;
        if (m_capacity - m_tail >= wanted)
            return;
    }
    qsizetype size = qMax<qsizetype>(4096, m_capacity * 2);
    while (size < m_tail + wanted)
        size *= 2;
    m_data = static_cast<char *>(std::realloc(m_data, size_t(size)));
    m_capacity = size;
}

void FlowBuffer::release()
{
    std::free(m_data);
    m_data = nullptr;
    m_capacity = 0;
    m_head = m_tail = 0;
}
