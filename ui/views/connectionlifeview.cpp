#include "connectionlifeview.h"

#include "lifecyclestrip.h"
#include "lifesummary.h"
#include "rategraph.h"
#include "timebreakdown.h"

#include <QDateTime>
#include <QLabel>
#include <QVBoxLayout>

ConnectionLifeView::ConnectionLifeView(QWidget *parent)
    : QWidget(parent)
    , m_strip(new LifecycleStrip(this))
    , m_graph(new RateGraph(this))
    , m_summary(new QLabel(this))
    , m_breakdown(new QLabel(this))
{
    m_strip->setObjectName(QStringLiteral("lifecycleStrip"));
    m_graph->setObjectName(QStringLiteral("rateGraph"));
    m_summary->setObjectName(QStringLiteral("lifeSummary"));
    m_breakdown->setObjectName(QStringLiteral("timeBreakdown"));
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_breakdown->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_breakdown->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(m_summary);
    layout->addWidget(m_strip);
    layout->addWidget(m_graph, 1);
    layout->addWidget(m_breakdown);
    m_clock.setInterval(250);
    connect(&m_clock, &QTimer::timeout, this, &ConnectionLifeView::refresh);
    showNothing();
}

void ConnectionLifeView::showConnection(const ConnectionRecord &record, const RateHistory &history)
{
    m_record = record;
    m_history = history;
    if (record.isClosed())
        m_clock.stop();
    else if (!m_clock.isActive())
        m_clock.start();
    const QString ends = LifeSummary::compact(record);
    // What is done to its traffic, beside where it goes: the strip's
    // marks show when faults fired, this what holds now.
    const QString done = record.conditions.isEmpty() || record.isClosed()
        ? QString()
        : tr("   (now: %1)").arg(record.conditions);
    m_summary->setText(tr("Connection %1: %2 → %3%4")
                           .arg(record.id)
                           .arg(record.client, record.upstreamAddress.isEmpty() ? record.upstream : record.upstreamAddress,
                                (ends.isEmpty() ? QString() : QStringLiteral("   ") + ends) + done));
    m_breakdown->setText(breakdownText(record));
    refresh();
}

void ConnectionLifeView::showNothing()
{
    m_record = ConnectionRecord();
    m_history = RateHistory();
    m_clock.stop();
    m_strip->clear();
    m_graph->clear();
    m_summary->setText(tr("Select a connection to see its life on both legs."));
    m_breakdown->clear();
}

void ConnectionLifeView::refresh()
{
    if (m_record.id == 0)
        return;
    const qint64 now = m_record.ageUs(QDateTime::currentMSecsSinceEpoch());
    m_strip->setRecord(m_record, now);
    m_graph->setHistory(m_history, now);
}

QString ConnectionLifeView::breakdownText(const ConnectionRecord &record)
{
    QStringList lines;
    for (const TimeBreakdown::Part &part : TimeBreakdown::of(record))
        lines.append(QStringLiteral("%1: %2").arg(part.label, LifeSummary::duration(part.us)));
    if (record.timeline.unmarked > 0)
        lines.append(tr("%1 more marks (stalls) not drawn").arg(record.timeline.unmarked));
    return lines.join(QLatin1Char('\n'));
}

QString ConnectionLifeView::text() const
{
    return m_summary->text() + QLatin1Char('\n') + m_breakdown->text();
}
