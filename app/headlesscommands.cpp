#include "headlesscommands.h"

#include "conditionrule.h"
#include "faultrule.h"
#include "proxyserver.h"
#include "ruleunits.h"

#include <QSocketNotifier>
#include <QStringList>

#include <cerrno>
#include <unistd.h>

namespace {

const QString By = QStringLiteral("by a command");

// An id the user typed: "12" or "#12", as the window shows it.
bool idFrom(const QString &word, quint64 *id)
{
    bool ok = false;
    *id = (word.startsWith(u'#') ? word.mid(1) : word).toULongLong(&ok);
    return ok;
}

} // namespace

HeadlessCommands::HeadlessCommands(ProxyServer *server, QObject *parent)
    : QObject(parent)
    , m_server(server)
{
}

void HeadlessCommands::listen(int fd)
{
    m_fd = fd;
    m_notifier = new QSocketNotifier(qintptr(fd), QSocketNotifier::Read, this);
    connect(m_notifier, &QSocketNotifier::activated, this, &HeadlessCommands::readable);
}

void HeadlessCommands::readable()
{
    char buffer[4096];
    const ssize_t n = ::read(m_fd, buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        // The end of the input (or an error): no more commands, the proxy
        // runs on.
        m_notifier->setEnabled(false);
        return;
    }
    m_pending.append(buffer, n);
    qsizetype newline;
    while ((newline = m_pending.indexOf('\n')) >= 0) {
        const QString line = QString::fromUtf8(m_pending.left(newline)).trimmed();
        m_pending.remove(0, newline + 1);
        if (!line.isEmpty())
            emit answered(run(line));
    }
    if (m_pending.size() > 64 * 1024)
        m_pending.clear(); // not a command anyone typed
}

void HeadlessCommands::track(const QList<ConnectionRecord> &records)
{
    for (const ConnectionRecord &record : records) {
        if (record.isClosed())
            m_live.remove(record.id);
        else
            m_live.insert(record.id, record);
    }
}

QString HeadlessCommands::run(const QString &line)
{
    const QStringList words = line.split(u' ', Qt::SkipEmptyParts);
    const QString command = words.value(0).toLower();
    if (command == u"help")
        return help();
    if (command == u"list")
        return list();
    if (command != u"act" && command != u"throttle")
        return QStringLiteral("'%1' is not a command (help lists them)").arg(command);
    quint64 id = 0;
    if (words.size() != 3 || !idFrom(words[1], &id))
        return QStringLiteral("%1 takes a connection's id and one rule: %1 ID %2")
            .arg(command, command == u"act" ? QStringLiteral("FAULT") : QStringLiteral("CONDITION|off"));
    if (!m_live.contains(id))
        return QStringLiteral("no live connection %1 (list shows them)").arg(id);
    FaultAction action;
    QString why;
    if (command == u"throttle") {
        action.kind = FaultAction::Kind::Throttle;
        if (words[2] != u"off") {
            ConditionRule rule;
            if (!ConditionRule::parse(words[2], &rule, &why))
                return QStringLiteral("throttle %1: %2").arg(words[2], why);
            if (!rule.clients.isEmpty() || rule.probability < 1 || rule.connectDelayUs > 0)
                return QStringLiteral("throttle %1: a connection's throttle takes no client=, probability= or "
                                      "connect-delay=").arg(words[2]);
            action.conditions = rule.conditions;
            action.target = rule.direction == ConditionRule::Direction::Up     ? FaultAction::Target::Upstream
                            : rule.direction == ConditionRule::Direction::Down ? FaultAction::Target::Client
                                                                               : FaultAction::Target::Both;
        }
    } else {
        // "resume" ends a stall or a black hole; a rule's words otherwise.
        QString text = words[2];
        const bool resume = text == u"resume" || text.startsWith(u"resume:");
        if (resume)
            text.replace(0, 6, QStringLiteral("stall"));
        FaultRule rule;
        if (!FaultRule::parse(text, &rule, &why))
            return QStringLiteral("act %1: %2").arg(words[2], why);
        if (rule.http || rule.refuse)
            return QStringLiteral("act %1: not a connection's fault (HTTP faults and refuse are rules: --fault, --rules)")
                .arg(words[2]);
        if (rule.trigger != FaultRule::Trigger::Accept || !rule.clients.isEmpty() || rule.probability < 1)
            return QStringLiteral("act %1: a command acts now, on this connection (no after=, on=, client= or "
                                  "probability=)").arg(words[2]);
        action = rule.action;
        if (resume)
            action.kind = FaultAction::Kind::Resume;
    }
    m_server->act(id, action, By);
    return QStringLiteral("connection %1: %2 (%3)").arg(id).arg(action.describe(), By);
}

QString HeadlessCommands::list() const
{
    if (m_live.isEmpty())
        return QStringLiteral("no live connections");
    QStringList lines;
    for (const ConnectionRecord &record : m_live) {
        QString line = QStringLiteral("%1  %2 -> %3  %4  up %5, down %6")
                           .arg(record.id)
                           .arg(record.client,
                                record.upstreamAddress.isEmpty() ? record.upstream : record.upstreamAddress,
                                ConnectionRecord::stateName(record.state), RuleUnits::bytesText(qint64(record.bytesUp)),
                                RuleUnits::bytesText(qint64(record.bytesDown)));
        if (!record.conditions.isEmpty())
            line += QStringLiteral("  (%1)").arg(record.conditions);
        lines.append(line);
    }
    return lines.join(u'\n');
}

QString HeadlessCommands::help()
{
    return QStringLiteral(
        "commands, one per line:\n"
        "  list                         the live connections: id, client -> upstream, state, bytes\n"
        "  act ID FAULT                 reset:side=client|upstream|both, close, half-close:toward=client|upstream,\n"
        "                               stall:dir=up|down|both[,for=2s], blackhole:dir=..., resume:dir=...,\n"
        "                               limit:dir=down,bytes=1000[,then=close|reset|half-close]\n"
        "  throttle ID CONDITION|off    down:bandwidth=1MB/s,latency=50ms (the syntax of --condition); off: none\n"
        "  help");
}
