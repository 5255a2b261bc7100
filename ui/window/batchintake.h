#pragma once

#include "connectionrecord.h"
#include "httpexchange.h"

#include <QObject>
#include <QTimer>

#include <functional>

// The engine's batches on their way into the window, a bounded slice of
// records per turn of the event loop. A burst (thousands of connections
// arriving, or closing, together) comes as one batch of thousands of
// records, and taking it at once held the window for 100 ms; in slices the
// window paints and answers input between them. A batch that fits in what
// is left of this turn's slice, with nothing waiting before it, passes
// straight through (the engine emits one batch per worker at a time).
//
// Order is kept: records pass in the order they came, and a batch's
// exchanges only once every record that came with or before them has.
class BatchIntake : public QObject
{
    Q_OBJECT
public:
    using Sink = std::function<void(const QList<ConnectionRecord> &, const QList<HttpExchange> &)>;
    static constexpr qsizetype RecordsPerTurn = 1000;

    explicit BatchIntake(Sink sink, QObject *parent = nullptr);

    void push(const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges);
    // While held nothing passes (the store is being read by another
    // thread); releasing lets what waited go on, in slices.
    void hold(bool held);
    // Forgets what waits (the capture was cleared or replaced).
    void clear();
    bool isEmpty() const { return m_waiting.isEmpty(); }

private:
    // Batches wait whole (shared, not copied); only one larger than a
    // slice is cut.
    struct Waiting
    {
        QList<ConnectionRecord> records;
        QList<HttpExchange> exchanges;
        qsizetype passed = 0; // records already handed on
    };

    // The event loop turned: a new slice may pass.
    void nextTurn();
    void passSlice();
    void schedule();

    Sink m_sink;
    QList<Waiting> m_waiting;
    bool m_held = false;
    qsizetype m_passedThisTurn = 0;
    QTimer m_turn;
};
