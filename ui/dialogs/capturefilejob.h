#pragma once

#include "captureexport.h"

#include <QString>

#include <functional>

class QWidget;

// Runs slow file work (writing an export or a session, reading one) on a
// thread of its own while the window goes on painting and taking input:
// the caller waits in a local event loop, a progress dialog with Cancel
// appears when the work takes more than a moment. The work gets a progress
// callback that returns false once the user cancelled.
class CaptureFileJob
{
public:
    // The work's error (empty: done); "cancelled" when the user cancelled.
    using Work = std::function<QString(const CaptureExport::Progress &progress)>;
    static QString run(QWidget *window, const QString &label, Work work);
};
