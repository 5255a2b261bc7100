#include "capturefilejob.h"

#include <QEventLoop>
#include <QProgressDialog>
#include <QThread>
#include <QTimer>

#include <atomic>

QString CaptureFileJob::run(QWidget *window, const QString &label, Work work)
{
    std::atomic<qsizetype> done{0};
    std::atomic<qsizetype> total{0};
    std::atomic<bool> cancelled{false};
    QString error;
    QThread *thread = QThread::create([&] {
        error = work([&](qsizetype now, qsizetype of) {
            done = now;
            total = of;
            return !cancelled.load();
        });
    });
    thread->setObjectName(QStringLiteral("proxymon-file"));

    QProgressDialog progress(label, QObject::tr("Cancel"), 0, 0, window);
    progress.setObjectName(QStringLiteral("fileProgress"));
    progress.setWindowModality(Qt::WindowModal);
    progress.setMinimumDuration(400);
    progress.setAutoReset(false);
    progress.setAutoClose(false);
    progress.setValue(0);
    QObject::connect(&progress, &QProgressDialog::canceled, [&] { cancelled = true; });
    QTimer tick;
    QObject::connect(&tick, &QTimer::timeout, [&] {
        if (total.load() > 0) {
            progress.setMaximum(int(qMin<qsizetype>(total.load(), INT_MAX)));
            progress.setValue(int(qMin<qsizetype>(done.load(), INT_MAX)));
        }
    });
    tick.start(50);
    QEventLoop loop;
    QObject::connect(thread, &QThread::finished, &loop, &QEventLoop::quit);
    thread->start();
    loop.exec();
    thread->wait();
    delete thread;
    if (cancelled && error.isEmpty())
        error = QStringLiteral("cancelled");
    return error;
}
