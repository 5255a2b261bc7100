#include "conditionspanel.h"

#include "networkpreset.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QStringList>
#include <QVBoxLayout>

namespace {

// The lines that say something: comments (#) and blank lines are skipped.
QList<QPair<int, QString>> ruleLines(const QString &text)
{
    QList<QPair<int, QString>> lines;
    const QStringList all = text.split(u'\n');
    for (int i = 0; i < all.size(); ++i) {
        const QString line = all[i].trimmed();
        if (!line.isEmpty() && !line.startsWith(u'#'))
            lines.append({i + 1, line});
    }
    return lines;
}

} // namespace

ConditionsPanel::ConditionsPanel(QWidget *parent)
    : QWidget(parent)
    , m_preset(new QComboBox(this))
    , m_conditions(new QPlainTextEdit(this))
    , m_faults(new QPlainTextEdit(this))
    , m_error(new QLabel(this))
    , m_inForce(new QLabel(this))
{
    m_preset->setObjectName(QStringLiteral("presetCombo"));
    m_preset->addItem(tr("No preset"));
    for (const NetworkPreset &preset : NetworkPreset::all()) {
        m_preset->addItem(QStringLiteral("%1 (%2)").arg(preset.name, preset.browser), preset.name);
        m_preset->setItemData(m_preset->count() - 1, preset.describe(), Qt::ToolTipRole);
    }
    m_conditions->setObjectName(QStringLiteral("conditionsEdit"));
    m_conditions->setPlaceholderText(tr("One per line:\ndown:bandwidth=1MB/s\nboth:latency=50ms,jitter=5ms"));
    m_conditions->setToolTip(tr("DIR:SETTING=VALUE,... with DIR up, down or both; settings latency, jitter, bandwidth, "
                                "burst, shared, slice, slice-variation, slice-delay, connect-delay, client, probability"));
    m_faults->setObjectName(QStringLiteral("faultsEdit"));
    m_faults->setPlaceholderText(tr("One per line:\nreset:after=5s,probability=0.1\nlimit:dir=down,bytes=1000,then=close\n"
                                    "status:code=503,path=^/api/"));
    m_faults->setToolTip(tr("KIND[:SETTING=VALUE,...]: reset, close, half-close, stall, blackhole, limit; when: after, "
                            "after-up, after-down, on=first-data; whom: client, probability.\n"
                            "HTTP: status (code), delay-head (delay), cut-body (bytes, then), no-response; which "
                            "requests: method, host, path, header, first, every"));
    m_error->setObjectName(QStringLiteral("conditionsError"));
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: #c0392b"));
    m_error->hide();
    m_inForce->setObjectName(QStringLiteral("conditionsInForce"));
    m_inForce->setWordWrap(true);
    m_inForce->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *applyButton = new QPushButton(tr("Apply"), this);
    applyButton->setObjectName(QStringLiteral("applyConditions"));
    applyButton->setToolTip(tr("Conditions apply to live connections at once; faults to the connections accepted "
                               "from now on"));
    connect(applyButton, &QPushButton::clicked, this, &ConditionsPanel::apply);
    auto *none = new QPushButton(tr("Remove all"), this);
    none->setObjectName(QStringLiteral("removeConditions"));
    connect(none, &QPushButton::clicked, this, [this] {
        m_preset->setCurrentIndex(0);
        m_conditions->clear();
        m_faults->clear();
        apply();
    });

    auto *form = new QFormLayout;
    form->addRow(tr("Preset:"), m_preset);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(new QLabel(tr("Conditions:"), this));
    layout->addWidget(m_conditions, 1);
    layout->addWidget(new QLabel(tr("Faults:"), this));
    layout->addWidget(m_faults, 1);
    layout->addWidget(m_error);
    auto *buttons = new QHBoxLayout;
    buttons->addStretch();
    buttons->addWidget(none);
    buttons->addWidget(applyButton);
    layout->addLayout(buttons);
    layout->addWidget(m_inForce);
    showInForce(RuleSet());
}

void ConditionsPanel::restore(const QSettings &settings)
{
    if (m_preset->currentIndex() > 0 || !m_conditions->toPlainText().isEmpty() || !m_faults->toPlainText().isEmpty())
        return; // the command line's rules, in force
    const int preset = m_preset->findData(settings.value(QStringLiteral("conditions/preset")).toString());
    m_preset->setCurrentIndex(qMax(0, preset));
    m_conditions->setPlainText(settings.value(QStringLiteral("conditions/conditions")).toString());
    m_faults->setPlainText(settings.value(QStringLiteral("conditions/faults")).toString());
}

void ConditionsPanel::save(QSettings *settings) const
{
    settings->setValue(QStringLiteral("conditions/preset"), m_preset->currentData().toString());
    settings->setValue(QStringLiteral("conditions/conditions"), m_conditions->toPlainText());
    settings->setValue(QStringLiteral("conditions/faults"), m_faults->toPlainText());
}

void ConditionsPanel::showRules(const RuleSet &rules)
{
    QStringList conditions;
    for (const ConditionRule &rule : rules.conditions)
        conditions.append(rule.toText());
    QStringList faults;
    for (const FaultRule &rule : rules.faults)
        faults.append(rule.text);
    m_preset->setCurrentIndex(0);
    m_conditions->setPlainText(conditions.join(u'\n'));
    m_faults->setPlainText(faults.join(u'\n'));
    showInForce(rules);
}

bool ConditionsPanel::apply()
{
    RuleSet rules;
    QString error;
    if (m_preset->currentIndex() > 0) {
        if (const NetworkPreset *preset = NetworkPreset::find(m_preset->currentData().toString()))
            rules.conditions = preset->rules();
    }
    QList<RuleSet::Text> conditionTexts;
    QList<RuleSet::Text> faultTexts;
    for (const auto &[number, line] : ruleLines(m_conditions->toPlainText()))
        conditionTexts.append({tr("Conditions, line %1").arg(number), line});
    for (const auto &[number, line] : ruleLines(m_faults->toPlainText()))
        faultTexts.append({tr("Faults, line %1").arg(number), line});
    rules.addTexts(conditionTexts, faultTexts, &error);
    if (!error.isEmpty()) {
        m_error->setText(error + tr(" (nothing was changed)"));
        m_error->show();
        return false;
    }
    m_error->hide();
    showInForce(rules);
    emit applied(rules);
    return true;
}

void ConditionsPanel::showInForce(const RuleSet &rules)
{
    if (rules.isEmpty()) {
        m_inForce->setText(tr("In force: nothing; connections relay as fast as they can."));
        return;
    }
    QStringList lines;
    for (const ConditionRule &rule : rules.conditions)
        lines.append(QStringLiteral("• ") + rule.summary());
    for (const FaultRule &rule : rules.faults)
        lines.append(QStringLiteral("⚡ ") + rule.summary());
    m_inForce->setText(tr("In force:\n%1").arg(lines.join(u'\n')));
}
