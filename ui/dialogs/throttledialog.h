#pragma once

#include "faultaction.h"
#include "flowconditions.h"

#include <QDialog>

class QComboBox;
class QLabel;
class QLineEdit;

// Asks how to throttle a connection: a bandwidth and a latency each way,
// typed ("1MB/s", "100ms") or taken from a browser's preset. Empty fields
// mean none; both directions empty lifts the throttle.
class ThrottleDialog : public QDialog
{
    Q_OBJECT
public:
    explicit ThrottleDialog(QWidget *parent = nullptr);

    // The conditions toward a side (Upstream: up, Client: down), as
    // accepted.
    FlowConditions conditions(FaultAction::Target toward) const;
    // Fills the fields from a preset by name ("Slow 4G"); false when there
    // is none.
    bool usePreset(const QString &name);
    // Reads the fields; false with the wrong one named in the dialog.
    bool check();

private:
    void accept() override;

    QComboBox *m_preset;
    QLineEdit *m_bandwidth[2]; // up, down
    QLineEdit *m_latency[2];
    QLabel *m_error;
    FlowConditions m_conditions[2];
};
