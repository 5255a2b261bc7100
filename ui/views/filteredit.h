#pragma once

#include "capturefilter.h"

#include <QLineEdit>
#include <QTimer>

// The capture filter as the user types it: applied a moment after the last
// key (not on each one, over a large capture), a syntax error marked on the
// field with its reason in the tooltip and told.
class FilterEdit : public QLineEdit
{
    Q_OBJECT
public:
    explicit FilterEdit(QWidget *parent = nullptr);

    // The filter the text says now.
    CaptureFilter filter() const { return CaptureFilter::parse(text()); }
    // Applies the text now rather than after the pause.
    void apply();

signals:
    void applied(const CaptureFilter &filter);
    void problem(const QString &error);

private:
    QTimer m_delay;
};
