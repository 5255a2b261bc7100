#include "capturefiles.h"

#include "batchintake.h"
#include "captureexport.h"
#include "capturefilejob.h"
#include "capturesnapshot.h"
#include "capturestore.h"
#include "harwriter.h"
#include "pcapngwriter.h"
#include "sessionreader.h"

#include <QCoreApplication>
#include <QFileDialog>
#include <QFileInfo>
#include <QMessageBox>
#include <QSaveFile>

CaptureFiles::CaptureFiles(CaptureStore *store, BatchIntake *intake, QWidget *window)
    : QObject(window)
    , m_store(store)
    , m_intake(intake)
    , m_window(window)
{
}

void CaptureFiles::askExport(const CaptureSelection &selection, const QString &format)
{
    const QString name = format == u"har" ? QStringLiteral("proxymon-capture.har")
        : format == u"pcapng"             ? QStringLiteral("proxymon-capture.pcapng")
        : format == u"session"            ? QStringLiteral("proxymon-session.jsonl")
                                          : QStringLiteral("proxymon-capture.jsonl");
    const QString filter = format == u"har"  ? tr("HAR (*.har);;All files (*)")
        : format == u"pcapng"                ? tr("pcapng (*.pcapng);;All files (*)")
                                             : tr("JSON Lines (*.jsonl);;All files (*)");
    const QString title = format == u"session" ? tr("Save session") : tr("Export");
    const QString path = QFileDialog::getSaveFileName(m_window, title, name, filter);
    if (!path.isEmpty())
        write(path, format, selection);
}

void CaptureFiles::askOpen()
{
    const QString path = QFileDialog::getOpenFileName(m_window, tr("Open a capture"), QString(),
                                                      tr("Captures (*.jsonl *.har *.json);;All files (*)"));
    if (!path.isEmpty())
        open(path, true);
}

bool CaptureFiles::write(const QString &path, const QString &format, const CaptureSelection &selection)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        emit problem(tr("Could not write %1: %2").arg(path, file.errorString()));
        return false;
    }
    // The store stands still while the file thread reads it: batches
    // that come meanwhile wait in the intake, and nothing else changes it.
    CaptureExport::Counts counts;
    m_busy = true;
    m_intake->hold(true);
    const QString error = CaptureFileJob::run(m_window, tr("Writing %1…").arg(QFileInfo(path).fileName()),
                                              [&](const CaptureExport::Progress &progress) {
        const CaptureSnapshot snapshot = CaptureSnapshot::take(*m_store, selection);
        if (format == u"har")
            counts = HarWriter::write(snapshot, &file, progress);
        else if (format == u"pcapng")
            counts = PcapngWriter::write(snapshot, &file, progress);
        else if (format == u"session")
            counts = CaptureExport::toSession(snapshot, &file, progress);
        else
            counts = CaptureExport::toJsonl(snapshot, &file, progress);
        if (!counts.complete)
            return file.errorString();
        // Its flush to disk can take a while too.
        return file.commit() ? QString() : file.errorString();
    });
    m_busy = false;
    m_intake->hold(false);
    if (!error.isEmpty()) {
        if (error == u"cancelled") {
            emit message(tr("Not written: cancelled"));
            return false;
        }
        emit problem(tr("Could not write %1: %2").arg(path, error));
        return false;
    }
    if (format == u"session" && !selection.hasPicks())
        m_unsaved = false;
    emit message(tr("Wrote %1 connections and %2 exchanges to %3").arg(counts.connections).arg(counts.exchanges).arg(path));
    return true;
}

bool CaptureFiles::open(const QString &path, bool askFirst)
{
    if (m_busy)
        return false;
    if (askFirst && m_unsaved && m_store->connectionCount() > 0) {
        const auto answer = QMessageBox::question(
            m_window, tr("Open a file?"),
            tr("The capture on screen has not been saved. Open %1 in its place?").arg(QFileInfo(path).fileName()),
            QMessageBox::Open | QMessageBox::Cancel, QMessageBox::Cancel);
        if (answer != QMessageBox::Open)
            return false;
    }
    SessionReader::Result result;
    const QString error = CaptureFileJob::run(m_window, tr("Reading %1…").arg(QFileInfo(path).fileName()),
                                              [&](const CaptureExport::Progress &) {
        result = SessionReader::readFile(path);
        return result.error;
    });
    if (!error.isEmpty()) {
        emit problem(tr("Could not open %1: %2").arg(path, error));
        return false;
    }
    // A live capture ends here: what comes next belongs to no file.
    emit replacing();
    m_intake->clear();
    m_store->clear();
    // In slices, so that the window paints between them.
    m_store->add(result.records, {});
    constexpr qsizetype Slice = 5000;
    for (qsizetype at = 0; at < result.exchanges.size(); at += Slice) {
        m_store->add({}, result.exchanges.mid(at, Slice));
        QCoreApplication::processEvents(QEventLoop::ExcludeUserInputEvents);
    }
    m_unsaved = false;
    emit opened(path);
    emit message(tr("Opened %1: %2 connections, %3 exchanges (%4)")
                     .arg(path)
                     .arg(result.records.size())
                     .arg(result.exchanges.size())
                     .arg(result.kind));
    return true;
}
