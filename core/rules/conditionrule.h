#pragma once

#include "flowconditions.h"
#include "subnetlist.h"

#include <QList>
#include <QString>

#include <memory>

class RatePacer;

// Network conditions for the proxy's connections, in one direction or
// both, as the user wrote them:
//
//   down:bandwidth=1MB/s
//   both:latency=50ms,jitter=5ms,client=127.0.0.0/8
//   up:slice=100,slice-delay=2ms,probability=0.5
//
// Each connection that matches (by client address, and by a draw made once
// when it is accepted) gets the conditions on its flows.
struct ConditionRule
{
    enum class Direction : quint8 { Up, Down, Both };

    Direction direction = Direction::Both;
    FlowConditions conditions;
    qint64 connectDelayUs = 0; // the upstream connect waits this long
    SubnetList clients;        // empty: every client
    double probability = 1;
    // A shared bandwidth's pacer, one per direction (0 up, 1 down), made
    // when the proxy starts and shared by every connection it applies to.
    std::shared_ptr<RatePacer> pacers[2];

    // False, with the part that is wrong in *error, when text is not a
    // condition; *rule is unchanged then.
    static bool parse(const QString &text, ConditionRule *rule, QString *error);
    // Back in the syntax parse() reads.
    QString toText() const;
    // "down 1MB/s, 50ms": what a connection's row says.
    QString summary() const;
    // "1MB/s, 50ms ±5ms, slices of 100B"
    static QString describe(const FlowConditions &conditions);
    bool covers(bool up) const;
    // Makes the shared pacers (a shared bandwidth only).
    void makePacers();
    bool operator==(const ConditionRule &other) const;

    static QString directionName(Direction direction);
};
