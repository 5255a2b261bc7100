#include "throttledialog.h"

#include "networkpreset.h"
#include "ruleunits.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QVBoxLayout>

ThrottleDialog::ThrottleDialog(QWidget *parent)
    : QDialog(parent)
    , m_preset(new QComboBox(this))
    , m_error(new QLabel(this))
{
    setWindowTitle(tr("Throttle this connection"));
    m_preset->setObjectName(QStringLiteral("preset"));
    m_preset->addItem(tr("Custom"));
    for (const NetworkPreset &preset : NetworkPreset::all())
        m_preset->addItem(QStringLiteral("%1 (%2)").arg(preset.name, preset.browser), preset.name);
    auto *form = new QFormLayout;
    form->addRow(tr("Preset:"), m_preset);
    const char *names[2] = {"up", "down"};
    for (int i = 0; i < 2; ++i) {
        m_bandwidth[i] = new QLineEdit(this);
        m_bandwidth[i]->setObjectName(QStringLiteral("%1Bandwidth").arg(QLatin1String(names[i])));
        m_bandwidth[i]->setPlaceholderText(tr("unlimited (e.g. 1MB/s, 750kbps)"));
        m_latency[i] = new QLineEdit(this);
        m_latency[i]->setObjectName(QStringLiteral("%1Latency").arg(QLatin1String(names[i])));
        m_latency[i]->setPlaceholderText(tr("none (e.g. 100ms)"));
    }
    form->addRow(tr("Down bandwidth (to the client):"), m_bandwidth[1]);
    form->addRow(tr("Down latency:"), m_latency[1]);
    form->addRow(tr("Up bandwidth (to the upstream):"), m_bandwidth[0]);
    form->addRow(tr("Up latency:"), m_latency[0]);
    m_error->setObjectName(QStringLiteral("error"));
    m_error->setWordWrap(true);
    m_error->hide();
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &ThrottleDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &ThrottleDialog::reject);
    connect(m_preset, &QComboBox::activated, this, [this](int index) {
        if (index > 0)
            usePreset(m_preset->itemData(index).toString());
    });
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(m_error);
    layout->addWidget(buttons);
}

bool ThrottleDialog::usePreset(const QString &name)
{
    const NetworkPreset *preset = NetworkPreset::find(name);
    if (!preset)
        return false;
    // One connection, so its own bandwidth: nothing to share.
    const QList<ConditionRule> rules = preset->rules();
    for (int i = 0; i < 2; ++i) {
        m_bandwidth[i]->setText(RuleUnits::rateText(rules[i].conditions.bytesPerSecond));
        m_latency[i]->setText(RuleUnits::durationText(rules[i].conditions.latencyUs));
    }
    m_preset->setCurrentIndex(m_preset->findData(preset->name));
    return true;
}

bool ThrottleDialog::check()
{
    const QString direction[2] = {tr("up"), tr("down")};
    for (int i = 0; i < 2; ++i) {
        FlowConditions conditions;
        const QString rate = m_bandwidth[i]->text().trimmed();
        const QString latency = m_latency[i]->text().trimmed();
        QString error;
        if (!rate.isEmpty() && !RuleUnits::parseRate(rate, &conditions.bytesPerSecond))
            error = tr("%1 bandwidth '%2' is not a rate (1MB/s, 500KiB/s, 2Mbit/s, 750kbps)").arg(direction[i], rate);
        else if (!latency.isEmpty() && !RuleUnits::parseDuration(latency, &conditions.latencyUs))
            error = tr("%1 latency '%2' is not a duration (50ms, 1.5s)").arg(direction[i], latency);
        if (!error.isEmpty()) {
            m_error->setText(error);
            m_error->show();
            return false;
        }
        m_conditions[i] = conditions;
    }
    m_error->hide();
    return true;
}

void ThrottleDialog::accept()
{
    if (check())
        QDialog::accept();
}

FlowConditions ThrottleDialog::conditions(FaultAction::Target toward) const
{
    return m_conditions[toward == FaultAction::Target::Upstream ? 0 : 1];
}
