#include "upstreampark.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

UpstreamPark::UpstreamPark(size_t capacity)
    : m_capacity(capacity)
{
}

UpstreamPark::~UpstreamPark()
{
    clear();
}

void UpstreamPark::park(Entry entry)
{
    m_entries.push_back(std::move(entry));
    if (m_entries.size() > m_capacity) {
        ::close(m_entries.front().fd);
        m_entries.erase(m_entries.begin());
    }
}

UpstreamPark::Entry UpstreamPark::take(const HttpProxyFront::Route &route)
{
    for (auto it = m_entries.begin(); it != m_entries.end(); ++it) {
        if (it->route != route)
            continue;
        Entry entry = std::move(*it);
        m_entries.erase(it);
        // An idle connection has nothing to read: EOF or bytes mean the
        // server is done with it.
        char probe;
        const ssize_t n = ::recv(entry.fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return entry;
        ::close(entry.fd);
        return Entry();
    }
    return Entry();
}

void UpstreamPark::clear()
{
    for (const Entry &entry : m_entries)
        ::close(entry.fd);
    m_entries.clear();
}
