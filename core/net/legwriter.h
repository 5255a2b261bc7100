#pragma once

#include <QtGlobal>

#include <cerrno>
#include <sys/types.h>

// The one loop that writes to a leg until what is offered is gone or the
// leg is proven full. Edge-triggered epoll raises a writable edge only after
// a write met a full socket, and only EAGAIN proves that; a short write
// does not. Each round offers what offer() says may go now (the rest of a
// buffer, a pipe's contents, what a shaper allows), write(n) makes one
// system call for up to n bytes, and wrote(n) is told what it took. It
// calls nothing but the three functions it is given, and returns why it
// stopped.
struct LegWriter
{
    enum class Outcome : quint8 {
        Done,   // offer() had nothing more: all that may go went
        Full,   // the leg is full: its next writable edge says when to go on
        Failed, // a write failed with error (errno; EPIPE for a write of 0)
        Stopped, // wrote() said to stop: the caller knows why
    };
    struct Result
    {
        Outcome outcome = Outcome::Done;
        int error = 0;
    };

    template <typename Offer, typename Write, typename Wrote>
    static Result write(Offer offer, Write write, Wrote wrote)
    {
        for (;;) {
            const qsizetype offered = offer();
            if (offered <= 0)
                return {Outcome::Done};
            const ssize_t n = write(offered);
            if (n > 0) {
                if (!wrote(qsizetype(n)))
                    return {Outcome::Stopped};
                continue;
            }
            const int error = errno;
            if (n < 0 && error == EINTR)
                continue;
            if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK))
                return {Outcome::Full};
            return {Outcome::Failed, n < 0 ? error : EPIPE};
        }
    }
};
