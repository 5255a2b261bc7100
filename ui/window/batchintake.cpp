#include "batchintake.h"

BatchIntake::BatchIntake(Sink sink, QObject *parent)
    : QObject(parent)
    , m_sink(std::move(sink))
{
    m_turn.setSingleShot(true);
    m_turn.setInterval(0);
    connect(&m_turn, &QTimer::timeout, this, &BatchIntake::nextTurn);
}

void BatchIntake::push(const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges)
{
    if (!m_held && m_waiting.isEmpty() && m_passedThisTurn + records.size() <= RecordsPerTurn) {
        m_passedThisTurn += records.size();
        m_sink(records, exchanges);
        schedule();
        return;
    }
    m_waiting.append({records, exchanges, 0});
    schedule();
}

void BatchIntake::hold(bool held)
{
    m_held = held;
    schedule();
}

void BatchIntake::clear()
{
    m_waiting.clear();
    m_turn.stop();
}

void BatchIntake::schedule()
{
    if (!m_turn.isActive() && (m_passedThisTurn > 0 || (!m_held && !m_waiting.isEmpty())))
        m_turn.start();
}

void BatchIntake::nextTurn()
{
    m_passedThisTurn = 0;
    passSlice();
}

void BatchIntake::passSlice()
{
    if (m_held || m_waiting.isEmpty())
        return;
    Waiting &front = m_waiting.first();
    const qsizetype room = RecordsPerTurn - m_passedThisTurn;
    if (front.passed == 0 && front.records.size() <= room) {
        const Waiting whole = m_waiting.takeFirst();
        m_passedThisTurn += whole.records.size();
        m_sink(whole.records, whole.exchanges);
    } else {
        const QList<ConnectionRecord> slice = front.records.mid(front.passed, room);
        front.passed += slice.size();
        m_passedThisTurn += slice.size();
        // A batch's exchanges go with its last records.
        if (front.passed < front.records.size()) {
            m_sink(slice, {});
        } else {
            const QList<HttpExchange> exchanges = m_waiting.takeFirst().exchanges;
            m_sink(slice, exchanges);
        }
    }
    schedule();
}
