#pragma once

#include <QString>

// What the record says of a listener: where it listens, in which mode and,
// forwarding, to where. Values only, for the JSONL stream and sessions,
// which need nothing else of the proxy's settings.
struct ListenerInfo
{
    QString address; // "127.0.0.1:8080", "[::1]:3128"
    QString mode;    // "forward", "http-proxy"
    QString target;  // "127.0.0.1:80"; empty when each request names its own
};
