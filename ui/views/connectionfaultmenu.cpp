#include "connectionfaultmenu.h"

#include "proxyserver.h"
#include "throttledialog.h"

#include <QAction>
#include <QMenu>

#include <algorithm>

namespace {

FaultAction make(FaultAction::Kind kind, FaultAction::Target target)
{
    FaultAction action;
    action.kind = kind;
    action.target = target;
    return action;
}

} // namespace

ConnectionFaultMenu::ConnectionFaultMenu(ProxyServer *server, Selection selected, QWidget *window)
    : QObject(window)
    , m_server(server)
    , m_selected(std::move(selected))
    , m_window(window)
{
    using Kind = FaultAction::Kind;
    using Target = FaultAction::Target;
    auto *reset = new QMenu(tr("Reset now"), window);
    make(reset, "resetClient", tr("The client"), ::make(Kind::Reset, Target::Client));
    make(reset, "resetUpstream", tr("The upstream"), ::make(Kind::Reset, Target::Upstream));
    make(reset, "resetBoth", tr("Both"), ::make(Kind::Reset, Target::Both));
    auto *halfClose = new QMenu(tr("Half-close"), window);
    make(halfClose, "halfCloseToClient", tr("Toward the client"), ::make(Kind::HalfClose, Target::Client));
    make(halfClose, "halfCloseToUpstream", tr("Toward the upstream"), ::make(Kind::HalfClose, Target::Upstream));
    auto *stall = new QMenu(tr("Stall"), window);
    make(stall, "stallUp", tr("Up (stop reading the client)"), ::make(Kind::Stall, Target::Upstream));
    make(stall, "stallDown", tr("Down (stop reading the upstream)"), ::make(Kind::Stall, Target::Client));
    make(stall, "blackholeUp", tr("Black hole up (read the client, drop it)"), ::make(Kind::Blackhole, Target::Upstream));
    make(stall, "blackholeDown", tr("Black hole down (read the upstream, drop it)"),
         ::make(Kind::Blackhole, Target::Client));
    auto *resume = new QMenu(tr("Resume"), window);
    make(resume, "resumeUp", tr("Up"), ::make(Kind::Resume, Target::Upstream));
    make(resume, "resumeDown", tr("Down"), ::make(Kind::Resume, Target::Client));
    m_menus = {reset, halfClose, stall, resume};
    auto *throttle = new QAction(tr("Throttle this connection…"), window);
    throttle->setObjectName(QStringLiteral("throttleConnection"));
    connect(throttle, &QAction::triggered, this, &ConnectionFaultMenu::askThrottle);
    m_actions.append(throttle);
}

QAction *ConnectionFaultMenu::make(QMenu *menu, const char *name, const QString &text, const FaultAction &action)
{
    QAction *item = menu->addAction(text);
    item->setObjectName(QLatin1String(name));
    connect(item, &QAction::triggered, this, [this, action] { act(action); });
    m_actions.append(item);
    return item;
}

QAction *ConnectionFaultMenu::action(const char *name) const
{
    for (QAction *item : m_actions) {
        if (item->objectName() == QLatin1String(name))
            return item;
    }
    return nullptr;
}

void ConnectionFaultMenu::addTo(QMenu *menu)
{
    const QList<ConnectionRecord> records = m_selected();
    const bool live = std::any_of(records.cbegin(), records.cend(), [](const ConnectionRecord &r) { return !r.isClosed(); });
    for (QMenu *submenu : m_menus) {
        submenu->setEnabled(live);
        menu->addMenu(submenu);
    }
    QAction *throttle = action("throttleConnection");
    throttle->setEnabled(live);
    menu->addAction(throttle);
}

void ConnectionFaultMenu::act(const FaultAction &action)
{
    int count = 0;
    for (const ConnectionRecord &record : m_selected()) {
        if (record.isClosed())
            continue;
        m_server->act(record.id, action, tr("by the user"));
        ++count;
    }
    if (count)
        emit message(tr("%1: %n connection(s)", nullptr, count).arg(action.describe()));
}

void ConnectionFaultMenu::askThrottle()
{
    ThrottleDialog dialog(m_window);
    if (dialog.exec() != QDialog::Accepted)
        return;
    for (const FaultAction::Target toward : {FaultAction::Target::Upstream, FaultAction::Target::Client}) {
        FaultAction throttle = ::make(FaultAction::Kind::Throttle, toward);
        throttle.conditions = dialog.conditions(toward);
        act(throttle);
    }
}
