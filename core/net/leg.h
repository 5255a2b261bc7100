#pragma once

#include <sys/types.h>

#include <cstddef>

// One side of a relayed connection over one descriptor, as the flows above
// it use it without knowing what carries the bytes (HAProxy's xprt_ops,
// Envoy's TransportSocket). Calls follow the system calls they stand for:
// a count, 0 for the end of the stream, or -1 with errno set (EAGAIN: not
// now, the descriptor's next edge brings the caller back).
//
// Half-close and reset are part of it: read() returning 0 is the peer's
// FIN, shutdownWrite() passes one on, pendingError() names a reset the peer
// sent, close(true) sends one.
//
// The process must ignore SIGPIPE (ProxyServer sees to it): splice() and
// OpenSSL's writes raise it toward a peer that has gone, where send() can
// be told not to.
class Leg
{
public:
    virtual ~Leg() = default;

    virtual int descriptor() const = 0;
    bool isOpen() const { return descriptor() >= 0; }

    // Reads what is there; *drained is set when the leg is proven to hold
    // nothing more, so that an edge-triggered reader may stop.
    virtual ssize_t read(char *into, size_t capacity, bool *drained) = 0;
    // Copies what read() would return next, leaving it queued.
    virtual ssize_t peek(char *into, size_t capacity) = 0;
    virtual ssize_t write(const char *data, size_t length) = 0;

    // Whether bytes can move between this leg and a pipe inside the kernel
    // (splice). A leg that transforms its bytes (TLS) cannot; the flow
    // above then copies.
    virtual bool canSplice() const = 0;
    virtual ssize_t readToPipe(int pipeWrite, size_t length) = 0;
    virtual ssize_t writeFromPipe(int pipeRead, size_t length) = 0;

    // No more bytes will be written: the peer reads its end of the stream.
    virtual void shutdownWrite() = 0;
    // The socket has room again: a leg that could not yet write what ends
    // its stream (TLS's close_notify) writes it now, then the FIN.
    virtual void writable() {}
    // Why the leg failed (ECONNRESET for a reset), or 0.
    virtual int pendingError() const = 0;
    // Bytes written that the peer has not acknowledged: they die with the
    // connection if it fails.
    virtual int unacknowledged() const = 0;
    // Closes the descriptor; with reset the peer gets a reset, not a FIN.
    virtual void close(bool reset) = 0;
};
