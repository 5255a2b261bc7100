#pragma once

#include "faultaction.h"
#include "httpfault.h"
#include "subnetlist.h"

#include <QString>

#include <optional>

// A fault that fires by itself on the connections it applies to: what to
// do, when, and to whom, as the user wrote it:
//
//   reset:after=5s,probability=0.1,client=127.0.0.0/8
//   half-close:toward=client,after-down=1000
//   stall:dir=up,for=2s,on=first-data
//   limit:dir=down,bytes=1000,then=close
//   refuse:for=10s,after=30s
//   status:code=503,method=POST,path=^/api/     (an HTTP fault: HttpFault)
//
// Without a trigger it fires when the connection is accepted. The draw
// for a probability is made once, when the connection is accepted, and 0
// never fires and draws nothing.
struct FaultRule
{
    enum class Trigger : quint8 {
        Accept,    // as soon as the connection is accepted
        Delay,     // delayUs after the accept
        Bytes,     // once bytes went toward bytesToward (up: toward the upstream)
        FirstData, // when the first bytes come from either side, before they are relayed
    };

    FaultAction action;
    // Not a connection's fault: the proxy refuses new connections for
    // action.durationUs, delayUs after it starts (or the rules change).
    bool refuse = false;
    // Not a connection's fault either: done to the HTTP exchanges of the
    // connections it applies to (action and the trigger are unused).
    std::optional<HttpFault> http;
    Trigger trigger = Trigger::Accept;
    qint64 delayUs = 0;
    FaultAction::Target bytesToward = FaultAction::Target::Client;
    quint64 bytes = 0;
    SubnetList clients; // empty: every client
    double probability = 1;
    QString text;       // as the user wrote it

    // False, with the part that is wrong in *error, when text is not a
    // fault; *rule is unchanged then.
    static bool parse(const QString &text, FaultRule *rule, QString *error);
    // "reset both sides after 5s": what a record and a message say.
    QString summary() const;
};
