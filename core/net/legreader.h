#pragma once

#include "leg.h"

#include <QtGlobal>

#include <cerrno>

// The one loop that reads a leg until it is proven empty. Edge-triggered
// epoll raises no new edge until a socket has been read dry, and only
// EAGAIN, or the leg's word that nothing is left (drained), proves that: a
// short read does not (recv() stops at an urgent mark). Each read goes to
// the caller's take(); a wake-up's share of reads, which the caller may
// share with reads of its own (a flow's splices), bounds the loop so that
// the worker's other connections get their turn. It calls nothing but the
// two functions it is given, and returns why it stopped.
struct LegReader
{
    enum class Outcome : quint8 {
        Empty,   // proven empty: its next bytes raise a new edge
        Ended,   // its FIN was read
        Failed,  // a read failed with error (errno)
        Share,   // the share of reads is used up: it may hold more, so come back
        Stopped, // room() had none, or take() said to stop: the caller knows why
    };
    struct Result
    {
        Outcome outcome = Outcome::Empty;
        int error = 0;
        // With Stopped by take(): the read it stopped at left the leg
        // proven empty (its next bytes raise a new edge).
        bool drained = false;
    };

    // Reads while *rounds lasts (each read takes one), at most room()
    // bytes at a time, into into; take(data, size) gets each read's bytes
    // and returns false to stop.
    template <typename Room, typename Take>
    static Result read(Leg &leg, char *into, int *rounds, Room room, Take take)
    {
        for (;;) {
            if (*rounds <= 0)
                return {Outcome::Share};
            const qsizetype capacity = room();
            if (capacity <= 0)
                return {Outcome::Stopped};
            --*rounds;
            bool drained = false;
            const ssize_t received = leg.read(into, size_t(capacity), &drained);
            if (received > 0) {
                if (!take(static_cast<const char *>(into), qsizetype(received)))
                    return {Outcome::Stopped, 0, drained};
                if (drained)
                    return {Outcome::Empty};
                continue;
            }
            if (received == 0)
                return {Outcome::Ended};
            const int error = errno;
            if (error == EINTR)
                continue;
            if (error == EAGAIN || error == EWOULDBLOCK)
                return {Outcome::Empty};
            return {Outcome::Failed, error};
        }
    }
};
