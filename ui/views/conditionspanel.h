#pragma once

#include "ruleset.h"

#include <QWidget>

class QComboBox;
class QLabel;
class QSettings;
class QPlainTextEdit;
class QPushButton;

// The proxy's network conditions and faults, as the window sets them: a
// browser's preset, then condition rules and fault rules one per line in
// the command line's syntax (down:bandwidth=1MB/s, reset:after=5s).
// Applying parses them all; a line that does not parse is named and
// nothing changes. What is in force is listed below.
class ConditionsPanel : public QWidget
{
    Q_OBJECT
public:
    explicit ConditionsPanel(QWidget *parent = nullptr);

    // Fills the fields with rules already in force (the command line's).
    void showRules(const RuleSet &rules);
    // Parses the fields: true and applied(), or false with the error shown.
    bool apply();
    // The fields as the user left them last time, unless rules came from
    // the command line: typed, not applied, so that a fault left in them
    // breaks nothing until Apply says so.
    void restore(const QSettings &settings);
    void save(QSettings *settings) const;

signals:
    void applied(const RuleSet &rules);

private:
    void showInForce(const RuleSet &rules);

    QComboBox *m_preset;
    QPlainTextEdit *m_conditions;
    QPlainTextEdit *m_faults;
    QLabel *m_error;
    QLabel *m_inForce;
};
