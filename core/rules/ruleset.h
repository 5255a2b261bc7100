#pragma once

#include "conditionrule.h"
#include "faultrule.h"

#include <QList>
#include <QString>

// The conditions and faults in force, as a --rules file holds them: the
// command line's syntax in JSON, so that a file can be edited and reloaded
// while the proxy runs (SIGHUP):
//
//   {
//     "preset": "Slow 4G",
//     "conditions": ["down:bandwidth=1MB/s", "both:latency=50ms,jitter=5ms"],
//     "faults": ["reset:after=5s,probability=0.1,client=127.0.0.0/8"]
//   }
//
// Every key is optional; a preset's rules come before the conditions.
struct RuleSet
{
    QList<ConditionRule> conditions;
    QList<FaultRule> faults;

    // A rule as the user wrote it, and where, for an error: "--fault",
    // "Faults, line 3", "\"faults\"[0]".
    struct Text
    {
        QString where;
        QString text;
    };

    bool isEmpty() const { return conditions.isEmpty() && faults.isEmpty(); }
    // Parses the condition texts, then the fault texts, after the rules
    // here; false, with "WHERE 'TEXT': what is wrong" for the first that
    // does not parse, and nothing added.
    bool addTexts(const QList<Text> &conditionTexts, const QList<Text> &faultTexts, QString *error);
    // False, with what is wrong and where in *error; *rules is unchanged then.
    static bool parse(const QByteArray &json, RuleSet *rules, QString *error);
    static bool load(const QString &path, RuleSet *rules, QString *error);
    // These rules after other's (the command line's, then a file's).
    void append(const RuleSet &other);
    // Ready to be put in force, by copies on every worker: new shared
    // bandwidths, HTTP faults counting from zero.
    void prepare();
};
