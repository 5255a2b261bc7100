#pragma once

#include "leg.h"
#include "socketaddress.h"

// A leg over a plain, non-blocking TCP socket: the system calls themselves,
// with splice() for bulk transfers. Owns its descriptor.
class TcpLeg final : public Leg
{
public:
    TcpLeg() = default;
    explicit TcpLeg(int fd) : m_fd(fd) {}
    ~TcpLeg() override;

    TcpLeg(const TcpLeg &) = delete;
    TcpLeg &operator=(const TcpLeg &) = delete;

    // Takes over fd (the leg must be closed).
    void attach(int fd) { m_fd = fd; }
    // Gives the descriptor up without closing it (an upstream parked for
    // later); the leg is closed afterwards.
    int detach();
    SocketAddress peer() const;
    SocketAddress local() const; // this end's address

    // Socket options for a relayed socket, set once: no Nagle delay, the
    // kernel's count of what is left with each read (TCP_INQ), urgent data
    // kept in the stream. An accepted socket inherits them from the
    // listener's.
    static void tune(int fd);

    int descriptor() const override { return m_fd; }
    ssize_t read(char *into, size_t capacity, bool *drained) override;
    ssize_t peek(char *into, size_t capacity) override;
    ssize_t write(const char *data, size_t length) override;
    bool canSplice() const override { return true; }
    ssize_t readToPipe(int pipeWrite, size_t length) override;
    ssize_t writeFromPipe(int pipeRead, size_t length) override;
    void shutdownWrite() override;
    int pendingError() const override;
    int unacknowledged() const override;
    void close(bool reset) override;

private:
    int m_fd = -1;
};
