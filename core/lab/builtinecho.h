#pragma once

#include <QString>

#include <atomic>
#include <functional>
#include <thread>

// The lab's echo server, built in: a target that needs no other program.
// It listens on 127.0.0.1 (an ephemeral port), sends back every byte it
// receives, and when the client shuts down its side, sends what is left
// and then closes, as the lab's echo server does. A reset is answered by
// closing. One thread with epoll serves any number of connections, holding
// at most 64 KiB per connection: a client that does not read stops being
// read from.
class BuiltinEcho
{
public:
    BuiltinEcho() = default;
    ~BuiltinEcho(); // stops and closes every connection

    BuiltinEcho(const BuiltinEcho &) = delete;
    BuiltinEcho &operator=(const BuiltinEcho &) = delete;

    bool start(QString *error);
    void stop();
    bool isRunning() const { return m_thread.joinable(); }
    quint16 port() const { return m_port; }

    // What a ProxyServer is given to start the target builtin:echo: an echo
    // server made on the first call and kept (connections of a stopping
    // proxy may still talk to it); returns its port, or 0 with *error.
    static std::function<quint16(QString *error)> starter();

private:
    void run();

    int m_listener = -1;
    int m_epoll = -1;
    int m_wake[2] = {-1, -1};
    quint16 m_port = 0;
    std::thread m_thread;
};
