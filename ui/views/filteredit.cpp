#include "filteredit.h"

namespace {

constexpr int DelayMs = 150;

QString help()
{
    return FilterEdit::tr("Words match anywhere; host:example status:4xx method:post client:127.0.0.1 "
                          "state:reset is:flagged narrow to a field; -term excludes");
}

} // namespace

FilterEdit::FilterEdit(QWidget *parent)
    : QLineEdit(parent)
{
    setObjectName(QStringLiteral("filterEdit"));
    setClearButtonEnabled(true);
    setPlaceholderText(tr("Filter (Ctrl+F): words, host: status: method: client: state: is:"));
    setToolTip(help());
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    m_delay.setSingleShot(true);
    m_delay.setInterval(DelayMs);
    connect(&m_delay, &QTimer::timeout, this, &FilterEdit::apply);
    connect(this, &QLineEdit::textChanged, this, [this] { m_delay.start(); });
}

void FilterEdit::apply()
{
    m_delay.stop();
    QString error;
    const CaptureFilter parsed = CaptureFilter::parse(text(), &error);
    setStyleSheet(error.isEmpty() ? QString() : QStringLiteral("QLineEdit { border: 1px solid #b06000; }"));
    setToolTip(error.isEmpty() ? help() : error);
    emit applied(parsed);
    if (!error.isEmpty())
        emit problem(error);
}
