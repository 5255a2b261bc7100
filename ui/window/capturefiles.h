#pragma once

#include "captureselection.h"

#include <QObject>

class BatchIntake;
class CaptureStore;
class QWidget;

// The capture's files, from the window: exports (JSONL, HAR, pcapng) and
// sessions written on a thread of their own behind a progress dialog while
// the store stands still, and sessions, JSONL streams and HAR files read
// into the store in its place. Whether the capture on screen is saved.
// Tells the window what happened rather than changing it.
class CaptureFiles : public QObject
{
    Q_OBJECT
public:
    // intake: where batches wait while a file is written from the store;
    // window: the dialogs' parent.
    CaptureFiles(CaptureStore *store, BatchIntake *intake, QWidget *window);

    // A file is being written or read: the store must not change.
    bool busy() const { return m_busy; }
    // Live capture came since the last save, open or clear.
    void captured() { m_unsaved = true; }
    // The capture was cleared: nothing is left to save.
    void cleared() { m_unsaved = false; }

    // Writes the selection (everything when it picks nothing and has no
    // filter) as "har", "pcapng", "jsonl" or "session"; false with the
    // reason told (problem()).
    bool write(const QString &path, const QString &format, const CaptureSelection &selection);
    // Reads a session, a JSONL stream or a HAR file into the store in
    // place of what it holds; over a capture not saved, asks first (when
    // askFirst). A file that cannot be read changes nothing.
    bool open(const QString &path, bool askFirst);
    // The same, with the file asked for.
    void askExport(const CaptureSelection &selection, const QString &format);
    void askOpen();

signals:
    void problem(const QString &text); // for the banner
    void message(const QString &text); // for the status bar
    // A file was read and replaces the store's contents next: the live
    // capture ends.
    void replacing();
    // The store now holds the file at path.
    void opened(const QString &path);

private:
    CaptureStore *m_store;
    BatchIntake *m_intake;
    QWidget *m_window;
    bool m_busy = false;
    bool m_unsaved = false;
};
