#pragma once

#include "httpproxyfront.h"

#include <QString>

#include <vector>

// The idle keep-alive upstream connections of one HTTP-proxy client, kept
// for when it asks their host again (a browser's requests alternate between
// hosts). Owns the descriptors it holds; they are out of any epoll set while
// parked. Lives on its connection's worker thread.
class UpstreamPark
{
public:
    struct Entry
    {
        HttpProxyFront::Route route;
        int fd = -1;     // -1: nothing usable
        QString address; // the address it is connected to, as records show it
    };

    // Parked descriptors cost as much as live ones: a few per client.
    explicit UpstreamPark(size_t capacity = 2);
    ~UpstreamPark();

    UpstreamPark(const UpstreamPark &) = delete;
    UpstreamPark &operator=(const UpstreamPark &) = delete;

    // Takes over entry.fd; when full, the longest parked one is closed.
    void park(Entry entry);
    // A parked connection to route that can carry a request now, or one
    // with fd -1. One that the server closed meanwhile, or that has bytes
    // waiting (a server's timeout answer), is closed instead.
    Entry take(const HttpProxyFront::Route &route);
    void clear();
    size_t size() const { return m_entries.size(); }

private:
    const size_t m_capacity;
    std::vector<Entry> m_entries; // oldest first
};
