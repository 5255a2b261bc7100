#include "flow.h"
#include "flowfilters.h"
#include "flowobserver.h"
#include "forwardingowner.h"
#include "legpair.h"
#include "pipepool.h"

#include <QTest>

#include <cerrno>
#include <functional>
#include <vector>

namespace {

constexpr int Capacity = 16 * 1024;

// Sees what the flow shows it and answers with its stop; with skipAll,
// asks to be told only how many bytes passed (as the capture does for a
// body past its kept prefix), at most ahead at a time, with the first
// roomBytes of each stretch copied.
struct TestObserver final : FlowObserver
{
    bool watching(bool) const override { return watches; }
    Window window(bool) override
    {
        Window window;
        if (skipAll) {
            window.ahead = ahead;
            window.room = room.data();
            window.roomBytes = qsizetype(room.size());
        }
        return window;
    }
    Verdict seen(bool fromClient, const char *data, qsizetype size) override
    {
        if (!fromClient)
            qFatal("shown bytes of a direction it does not watch");
        shown.append(data, size);
        pieces.append({offset, QByteArray(data, size)});
        offset += quint64(size);
        return Verdict::stopAt(stop);
    }
    quint64 stopAt(bool) const override { return stop; }
    void ended(bool) override { ++ends; }
    void passed(bool, quint64 bytes) override
    {
        // What went to the room, where it was in the stream.
        const qsizetype copied = qsizetype(qMin<quint64>(bytes, room.size()));
        if (copied > 0)
            copies.append({offset, QByteArray(room.data(), copied)});
        skipped += bytes;
        offset += bytes;
    }
    // Every byte seen and every copy is the stream's at its place.
    bool matches(const QByteArray &stream) const
    {
        for (const auto &list : {pieces, copies}) {
            for (const auto &[at, bytes] : list)
                if (stream.mid(qsizetype(at), bytes.size()) != bytes)
                    return false;
        }
        return true;
    }

    bool watches = true;
    quint64 stop = NoStop;
    int ends = 0;
    bool skipAll = false;
    quint64 ahead = ~quint64(0) >> 1;
    std::vector<char> room;
    QByteArray shown;
    quint64 skipped = 0;
    quint64 offset = 0;
    QList<std::pair<quint64, QByteArray>> pieces; // seen
    QList<std::pair<quint64, QByteArray>> copies;
};

// A flow from one loopback pair's leg to another's, shown to an observer.
struct WatchedFlow
{
    explicit WatchedFlow(const Flow::Shared &shared)
        : flow(Flow::Client, client.leg, upstream.leg, shared)
    {
        flow.setObserver(&observer);
    }
    LegPair client;
    LegPair upstream;
    TestObserver observer;
    Flow flow;
};

// Delegates to a TCP leg but says it cannot splice, as a TLS leg will.
class CopyOnlyLeg final : public Leg
{
public:
    explicit CopyOnlyLeg(TcpLeg &leg) : m_leg(leg) {}
    int descriptor() const override { return m_leg.descriptor(); }
    ssize_t read(char *into, size_t capacity, bool *drained) override { return m_leg.read(into, capacity, drained); }
    ssize_t peek(char *into, size_t capacity) override { return m_leg.peek(into, capacity); }
    ssize_t write(const char *data, size_t length) override { return m_leg.write(data, length); }
    bool canSplice() const override { return false; }
    ssize_t readToPipe(int, size_t) override { return fail(); }
    ssize_t writeFromPipe(int, size_t) override { return fail(); }
    void shutdownWrite() override { m_leg.shutdownWrite(); }
    int pendingError() const override { return m_leg.pendingError(); }
    int unacknowledged() const override { return m_leg.unacknowledged(); }
    void close(bool reset) override { m_leg.close(reset); }
    int splices = 0;

private:
    ssize_t fail()
    {
        ++splices;
        errno = EOPNOTSUPP;
        return -1;
    }
    TcpLeg &m_leg;
};

} // namespace

// A flow between two real loopback connections, driven as a worker drives
// it (pump on readable, flush on writable), without the rest of the relay.
class tst_Flow : public QObject
{
    Q_OBJECT
private slots:
    void forwardsEveryByteThenTheFin();
    void stopsReadingWhileTheDestinationIsFull();
    void splicesBulkAndTellsTheObserverOnlyCounts();
    void copiesWhenALegCannotSplice();
    void reportsTheDestinationsFailure();
    void yieldsAfterAWakeUpsShare();
    void fedFlowAsksForMoreAndNeverReadsItsSource();
    void reportsWhatItMetAndHoldsFirstBytesUntilResumed();
    void filtersGiveEachObserverItsShareOfASplice();
    void filtersShowEveryByteWhenOneObserverAsks();
    void eachLimiterHasItsOwnLimit();
    void filtersAnswerWithTheLowestStopAndHearTheEnd();

private:
    // What an upstream received of data, sent by a client that then shuts
    // down its writing, through a flow watched by observer, once the flow
    // passed the FIN on (empty when that took over 10 s).
    QByteArray relayed(const QByteArray &data, FlowObserver *observer);
    // Pumps and flushes until done() or 10 s; false on the timeout.
    static bool drive(Flow &flow, ForwardingOwner &owner, const Leg &source, const Leg &destination, const std::function<bool()> &done);

    std::vector<char> m_scratch = std::vector<char>(Capacity);
    PipePool m_pipes{Capacity};
    Flow::Shared m_shared{m_scratch.data(), Capacity, &m_pipes};
};

QByteArray tst_Flow::relayed(const QByteArray &data, FlowObserver *observer)
{
    LegPair client;
    LegPair upstream;
    ForwardingOwner owner(upstream.leg);
    Flow flow(Flow::Client, client.leg, upstream.leg, m_shared);
    flow.setObserver(observer);
    auto sender = std::async(std::launch::async, [&] {
        const bool sent = Loopback::sendAll(client.peer.fd(), data);
        client.peer.shutdownWrite();
        return sent;
    });
    auto reader = std::async(std::launch::async, [&] { return Loopback::readUntilEof(upstream.peer.fd()); });
    const bool passed = drive(flow, owner, client.leg, upstream.leg, [&] { return owner.finsPassed > 0; });
    const bool sent = sender.get();
    const QByteArray received = reader.get();
    return passed && sent ? received : QByteArray();
}

bool tst_Flow::drive(Flow &flow, ForwardingOwner &owner, const Leg &source, const Leg &destination, const std::function<bool()> &done)
{
    QElapsedTimer clock;
    clock.start();
    while (!done()) {
        if (clock.elapsed() > 10'000)
            return false;
        pollfd ready[2] = {{source.descriptor(), POLLIN | POLLRDHUP, 0}, {destination.descriptor(), POLLOUT, 0}};
        ::poll(ready, flow.pending() ? 2 : 1, 20);
        if (flow.pending())
            owner.settle(flow, flow.flush());
        else
            owner.settle(flow, flow.pump());
    }
    return true;
}

void tst_Flow::forwardsEveryByteThenTheFin()
{
    LegPair client;
    LegPair upstream;
    ForwardingOwner owner(upstream.leg);
    TestObserver observer;
    Flow flow(Flow::Client, client.leg, upstream.leg, m_shared);
    flow.setObserver(&observer);
    // A lab client's request: a few lines, then its FIN.
    const QByteArray request = "GET / HTTP/1.0\r\nHost: lab\r\n\r\n";
    QVERIFY(Loopback::sendAll(client.peer.fd(), request));
    client.peer.shutdownWrite();
    QVERIFY(drive(flow, owner, client.leg, upstream.leg, [&] { return owner.finsPassed > 0; }));
    int error = -1;
    QCOMPARE(Loopback::readUntilEof(upstream.peer.fd(), &error), request);
    QCOMPARE(error, 0);
    QCOMPARE(owner.ended, 1);
    QCOMPARE(flow.delivered(), quint64(request.size()));
    QCOMPARE(observer.shown, request);
    QVERIFY(owner.failures.empty());
}

void tst_Flow::stopsReadingWhileTheDestinationIsFull()
{
    LegPair client;
    LegPair upstream;
    ForwardingOwner owner(upstream.leg);
    Flow flow(Flow::Client, client.leg, upstream.leg, m_shared);
    flow.setSpliceAllowed(false); // the copy path's buffer is the one to watch
    // The upstream reads nothing; the client sends far more than the
    // kernel's queues and one buffer hold.
    const QByteArray data = Loopback::randomBytes(8 * 1024 * 1024, 3);
    auto sender = std::async(std::launch::async, [&] { return Loopback::sendAll(client.peer.fd(), data); });
    QVERIFY(drive(flow, owner, client.leg, upstream.leg, [&] { return flow.pending() && Loopback::queuedToRead(client.leg.descriptor()) > 0; }));
    // While bytes wait, pumping reads nothing more from the client.
    const quint64 delivered = flow.delivered();
    const int queued = Loopback::queuedToRead(client.leg.descriptor());
    for (int i = 0; i < 10; ++i)
        owner.settle(flow, flow.pump());
    // The sender may still be adding (its own queue drains into this one,
    // slowly under a sanitizer); a read could only make it smaller.
    QVERIFY2(Loopback::queuedToRead(client.leg.descriptor()) >= queued,
             qPrintable(QStringLiteral("%1 < %2").arg(Loopback::queuedToRead(client.leg.descriptor())).arg(queued)));
    QCOMPARE(flow.delivered(), delivered);
    QVERIFY(delivered < quint64(data.size()));
    // The wait is timed from its start; it has not ended yet.
    QVERIFY(flow.waitingSinceUs() > 0);
    QCOMPARE(owner.waits.size(), size_t(0));
    QCOMPARE(owner.firstBytes, 1);

    // Once the upstream reads, everything arrives, in order.
    auto reader = std::async(std::launch::async, [&] { return Loopback::readExactly(upstream.peer.fd(), data.size()); });
    QVERIFY(drive(flow, owner, client.leg, upstream.leg, [&] { return flow.delivered() == quint64(data.size()) && !flow.pending(); }));
    QVERIFY(sender.get());
    QCOMPARE(Loopback::sha256(reader.get()), Loopback::sha256(data));
    // Every wait ended and was reported; the first one lasted until the
    // upstream began to read, and all of them add up to the total.
    QCOMPARE(flow.waitingSinceUs(), qint64(-1));
    QVERIFY(!owner.waits.empty());
    qint64 total = 0;
    for (const auto &[since, until] : owner.waits) {
        QVERIFY(until >= since);
        total += until - since;
    }
    QCOMPARE(flow.waitedUs(), total);
    QVERIFY(owner.waits.front().second - owner.waits.front().first > 0);
    QCOMPARE(owner.firstBytes, 1);
}

void tst_Flow::splicesBulkAndTellsTheObserverOnlyCounts()
{
    TestObserver observer;
    observer.skipAll = true;
    const QByteArray data = Loopback::randomBytes(4 * 1024 * 1024, 4);
    QCOMPARE(Loopback::sha256(relayed(data, &observer)), Loopback::sha256(data));
    // Reads are copies until one fills the buffer; from then on the bytes
    // went through a pipe and the observer was only told how many.
    QVERIFY2(observer.skipped > quint64(data.size()) / 2, QByteArray::number(observer.skipped).constData());
    QCOMPARE(quint64(observer.shown.size()) + observer.skipped, quint64(data.size()));
}

void tst_Flow::copiesWhenALegCannotSplice()
{
    LegPair client;
    LegPair upstream;
    CopyOnlyLeg destination(upstream.leg);
    ForwardingOwner owner(destination);
    TestObserver observer;
    observer.skipAll = true; // would let bytes pass unseen, if they could be spliced
    Flow flow(Flow::Client, client.leg, destination, m_shared);
    flow.setObserver(&observer);
    const QByteArray data = Loopback::randomBytes(2 * 1024 * 1024, 5);
    auto sender = std::async(std::launch::async, [&] {
        const bool sent = Loopback::sendAll(client.peer.fd(), data);
        client.peer.shutdownWrite();
        return sent;
    });
    auto reader = std::async(std::launch::async, [&] { return Loopback::readUntilEof(upstream.peer.fd()); });
    QVERIFY(drive(flow, owner, client.leg, destination, [&] { return owner.finsPassed > 0; }));
    QVERIFY(sender.get());
    QCOMPARE(Loopback::sha256(reader.get()), Loopback::sha256(data));
    QCOMPARE(destination.splices, 0);
    QCOMPARE(observer.skipped, quint64(0));
    QCOMPARE(Loopback::sha256(observer.shown), Loopback::sha256(data));
}

void tst_Flow::reportsTheDestinationsFailure()
{
    LegPair client;
    LegPair upstream;
    ForwardingOwner owner(upstream.leg);
    Flow flow(Flow::Client, client.leg, upstream.leg, m_shared);
    upstream.peer.reset();
    QVERIFY(upstream.waitFor(POLLIN | POLLERR));
    QVERIFY(Loopback::sendAll(client.peer.fd(), "too late"));
    QVERIFY(drive(flow, owner, client.leg, upstream.leg, [&] { return !owner.failures.empty(); }));
    QCOMPARE(owner.failures.front().first, Flow::Upstream);
    const int error = owner.failures.front().second;
    QVERIFY2(error == ECONNRESET || error == EPIPE, qPrintable(QString::number(error)));
}

void tst_Flow::yieldsAfterAWakeUpsShare()
{
    LegPair client;
    LegPair upstream;
    ForwardingOwner owner(upstream.leg);
    // Small reads, so that more than eight of them fit in the kernel's
    // receive queue at once.
    constexpr int Small = 4096;
    std::vector<char> scratch(Small);
    PipePool pipes(Small);
    const Flow::Shared shared{scratch.data(), Small, &pipes};
    Flow flow(Flow::Client, client.leg, upstream.leg, shared);
    flow.setSpliceAllowed(false);
    // Far more than eight reads' worth, all there before the one pump():
    // the flow reads its share and asks to come back, as the worker's
    // other connections wait.
    const QByteArray data = Loopback::randomBytes(12 * Small, 6);
    auto reader = std::async(std::launch::async, [&] { return Loopback::readExactly(upstream.peer.fd(), data.size()); });
    QVERIFY(Loopback::sendAll(client.peer.fd(), data));
    QTRY_VERIFY_WITH_TIMEOUT(Loopback::queuedToRead(client.leg.descriptor()) == data.size(), 5000);
    owner.settle(flow, flow.pump());
    QVERIFY(!flow.pending());
    QCOMPARE(owner.yields, 1);
    QCOMPARE(flow.delivered(), quint64(8 * Small));
    QVERIFY(drive(flow, owner, client.leg, upstream.leg, [&] { return flow.delivered() == quint64(data.size()) && !flow.pending(); }));
    QCOMPARE(Loopback::sha256(reader.get()), Loopback::sha256(data));
}


// An HTTP proxy's up flow: the session reads the client and feeds the flow
// within its room; the flow reads nothing itself, and asks for more once
// what it holds has gone.
void tst_Flow::fedFlowAsksForMoreAndNeverReadsItsSource()
{
    LegPair client;
    LegPair upstream;
    ForwardingOwner owner(upstream.leg);
    Flow flow(Flow::Client, client.leg, upstream.leg, m_shared);
    flow.setSpliceAllowed(false);
    flow.setFed(true);
    QVERIFY(Loopback::sendAll(client.peer.fd(), "the client's own bytes"));
    QTRY_VERIFY(Loopback::queuedToRead(client.leg.descriptor()) > 0);
    const int queued = Loopback::queuedToRead(client.leg.descriptor());
    owner.settle(flow, flow.pump());
    QCOMPARE(Loopback::queuedToRead(client.leg.descriptor()), queued);

    // Fed until the upstream, reading nothing, leaves the flow no room.
    const QByteArray data = Loopback::randomBytes(8 * 1024 * 1024, 9);
    qsizetype fed = 0;
    qsizetype room;
    while (fed < data.size() && (room = flow.roomToFeed()) > 0) {
        const qsizetype n = qMin(room, data.size() - fed);
        QVERIFY(owner.settle(flow, flow.forward(data.constData() + fed, n)));
        fed += n;
    }
    QVERIFY(flow.pending());
    QVERIFY(fed < data.size());
    QCOMPARE(owner.yields, 0);

    // As the upstream reads, each time what was held has gone the flow
    // asks for more (Yield), and is fed the rest.
    auto reader = std::async(std::launch::async, [&] { return Loopback::readExactly(upstream.peer.fd(), data.size()); });
    QElapsedTimer clock;
    clock.start();
    int asked = 0;
    while (flow.delivered() < quint64(data.size()) && clock.elapsed() < 10'000) {
        pollfd ready{upstream.leg.descriptor(), POLLOUT, 0};
        ::poll(&ready, 1, 20);
        if (flow.pending())
            owner.settle(flow, flow.flush());
        if (owner.yields == asked)
            continue;
        asked = owner.yields;
        while (fed < data.size() && (room = flow.roomToFeed()) > 0) {
            const qsizetype n = qMin(room, data.size() - fed);
            QVERIFY(owner.settle(flow, flow.forward(data.constData() + fed, n)));
            fed += n;
        }
    }
    QCOMPARE(fed, data.size());
    QCOMPARE(Loopback::sha256(reader.get()), Loopback::sha256(data));
    QVERIFY(asked > 0);
    QCOMPARE(Loopback::queuedToRead(client.leg.descriptor()), queued);
    QCOMPARE(owner.firstBytes, 0);

    // A new destination drops what was held for the old one.
    QVERIFY(owner.settle(flow, flow.forward(data.constData(), 16)));
    QVERIFY(Loopback::readExactly(upstream.peer.fd(), 16) == data.left(16));
    upstream.peer.shutdownWrite();
    owner.settle(flow, flow.newDestination());
    QVERIFY(!flow.pending());
}

// A flow calls nobody: what a call met comes back in its result. Held
// first bytes are neither shown nor sent, even on a flush, until resume().
void tst_Flow::reportsWhatItMetAndHoldsFirstBytesUntilResumed()
{
    using Event = FlowResult::Event;
    WatchedFlow watched(m_shared);
    auto &[client, upstream, observer, flow] = watched;
    flow.setHoldFirstBytes(true);
    QVERIFY(Loopback::sendAll(client.peer.fd(), "first"));
    QTRY_VERIFY(Loopback::queuedToRead(client.leg.descriptor()) == 5);
    FlowResult result = flow.pump();
    QVERIFY(result.has(Event::FirstBytes));
    QVERIFY(result.has(Event::FirstHeld));
    QVERIFY(result.halted());
    QVERIFY(!result.has(Event::Delivered));
    QVERIFY(flow.pending());
    QVERIFY(flow.lastReadUs() > 0);
    result = flow.flush();
    QCOMPARE(flow.delivered(), quint64(0));
    QVERIFY(observer.shown.isEmpty());

    result = flow.resume();
    QVERIFY(result.has(Event::Delivered));
    QVERIFY(!result.has(Event::Waited)); // held is not waiting for the destination
    QCOMPARE(flow.delivered(), quint64(5));
    QCOMPARE(observer.shown, QByteArray("first"));
    QCOMPARE(Loopback::readExactly(upstream.peer.fd(), 5), QByteArray("first"));

    // The next read is not held; the FIN is reported, and marked by the
    // owner; the FIN's turn comes with nothing pending.
    client.peer.shutdownWrite();
    QTRY_VERIFY((result = flow.pump()).has(Event::Ended));
    QVERIFY(!flow.ended());
    flow.markEnded();
    QVERIFY(flow.flush().has(Event::FinDue));

    // The destination's failure names the destination.
    upstream.peer.reset();
    QTRY_VERIFY((result = flow.forward("late", 4)).has(Event::Failed));
    QVERIFY(result.failedAt == FlowResult::At::Destination);
    QVERIFY(result.error == ECONNRESET || result.error == EPIPE);
}

void tst_Flow::filtersGiveEachObserverItsShareOfASplice()
{
    // Two observers that let bytes go by: one in stretches of at most
    // 100,000 bytes with the first 500 of each copied, the other with the
    // first 3,000 copied. Both are told of every byte exactly once, and
    // each copy is the stream's bytes at its place.
    TestObserver counting;
    counting.skipAll = true;
    counting.ahead = 100'000;
    counting.room.resize(500);
    TestObserver copying;
    copying.skipAll = true;
    copying.room.resize(3'000);
    FlowFilters filters;
    filters.add(&counting);
    filters.add(&copying);
    QCOMPARE(filters.forFlows(), &filters);
    const QByteArray data = Loopback::randomBytes(4 * 1024 * 1024, 7);
    QCOMPARE(Loopback::sha256(relayed(data, filters.forFlows())), Loopback::sha256(data));
    for (const TestObserver *observer : {&counting, &copying}) {
        QCOMPARE(quint64(observer->shown.size()) + observer->skipped, quint64(data.size()));
        QVERIFY(observer->matches(data));
    }
    // Both were told of the same stretches that went by.
    QVERIFY(copying.skipped > 0);
    QCOMPARE(counting.skipped, copying.skipped);
    QVERIFY(!copying.copies.isEmpty());
    QCOMPARE(counting.copies.size(), copying.copies.size());
}

void tst_Flow::filtersShowEveryByteWhenOneObserverAsks()
{
    // One observer would let bulk bytes go by; the other (an HTTP fault
    // gate following the requests) must see each: both see every byte.
    TestObserver lenient;
    lenient.skipAll = true;
    lenient.room.resize(1'000);
    TestObserver strict;
    FlowFilters filters;
    filters.add(&lenient);
    filters.add(&strict);
    const QByteArray data = Loopback::randomBytes(2 * 1024 * 1024, 8);
    QCOMPARE(Loopback::sha256(relayed(data, filters.forFlows())), Loopback::sha256(data));
    QCOMPARE(Loopback::sha256(strict.shown), Loopback::sha256(data));
    QCOMPARE(Loopback::sha256(lenient.shown), Loopback::sha256(data));
    QCOMPARE(lenient.skipped, quint64(0));
}

void tst_Flow::eachLimiterHasItsOwnLimit()
{
    // A filter's stop and a fault's limit: the flow stops at the lower and
    // reads on meanwhile (the filter sees what follows), each limit met is
    // reported with whose it is, and lifting one leaves the other.
    using Event = FlowResult::Event;
    WatchedFlow watched(m_shared);
    auto &[client, upstream, observer, flow] = watched;
    flow.setDeliveryLimit(10, Flow::ByFault);
    observer.stop = 4; // its answer to the bytes it sees
    QVERIFY(flow.resume().isEmpty());
    QVERIFY(Loopback::sendAll(client.peer.fd(), "0123456789abcdef"));
    FlowResult result;
    QTRY_VERIFY(Loopback::queuedToRead(client.leg.descriptor()) == 16);
    result = flow.pump();
    QVERIFY(result.has(Event::LimitReached));
    QCOMPARE(result.limitsMet, quint8(1 << Flow::ByFilter));
    QCOMPARE(flow.delivered(), quint64(4));
    QCOMPARE(observer.shown, QByteArray("0123456789abcdef")); // read on past the stop, and seen
    QCOMPARE(Loopback::readExactly(upstream.peer.fd(), 4), QByteArray("0123"));

    QCOMPARE(flow.deliveryLimit(Flow::ByFilter), quint64(4));

    // The filter lets go between reads (its owner restates its stop): the
    // bytes go up to the fault's limit, reported as its.
    observer.stop = FlowObserver::NoStop;
    flow.takeFilterStop(observer.stopAt(true));
    QCOMPARE(flow.deliveryLimit(Flow::ByFault), quint64(10));
    result = flow.resume();
    QVERIFY(result.has(Event::LimitReached));
    QCOMPARE(result.limitsMet, quint8(1 << Flow::ByFault));
    QCOMPARE(flow.delivered(), quint64(10));
    QCOMPARE(Loopback::readExactly(upstream.peer.fd(), 6), QByteArray("456789"));

    // A stop at a point already passed is met at once; the fault's, lifted, is no more.
    flow.setDeliveryLimit(Flow::NoLimit, Flow::ByFault);
    flow.setDeliveryLimit(10, Flow::ByFilter);
    QCOMPARE(flow.resume().limitsMet, quint8(1 << Flow::ByFilter));
    flow.setDeliveryLimit(Flow::NoLimit, Flow::ByFilter);
    result = flow.resume();
    QVERIFY(!result.has(Event::LimitReached));
    QCOMPARE(flow.delivered(), quint64(16));
    QCOMPARE(Loopback::readExactly(upstream.peer.fd(), 6), QByteArray("abcdef"));
}

void tst_Flow::filtersAnswerWithTheLowestStopAndHearTheEnd()
{
    // One filter watches and lets every byte go; another no longer watches
    // the direction but stands by its stop at 5: the list answers 5, so
    // the watching one does not lift the other's stop.
    using Event = FlowResult::Event;
    TestObserver lenient;
    TestObserver holding;
    holding.watches = false;
    holding.stop = 5;
    FlowFilters filters;
    filters.add(&lenient);
    filters.add(&holding);
    LegPair client;
    LegPair upstream;
    Flow flow(Flow::Client, client.leg, upstream.leg, m_shared);
    flow.setObserver(filters.forFlows());
    QVERIFY(Loopback::sendAll(client.peer.fd(), "0123456789"));
    QTRY_VERIFY(Loopback::queuedToRead(client.leg.descriptor()) == 10);
    FlowResult result = flow.pump();
    QVERIFY(result.has(Event::LimitReached));
    QCOMPARE(result.limitsMet, quint8(1 << Flow::ByFilter));
    QCOMPARE(flow.delivered(), quint64(5));
    QCOMPARE(lenient.shown, QByteArray("0123456789"));
    QVERIFY(holding.shown.isEmpty());
    QCOMPARE(Loopback::readExactly(upstream.peer.fd(), 5), QByteArray("01234"));

    // It lets go between reads; the owner asks the list again and resumes.
    holding.stop = FlowObserver::NoStop;
    QCOMPARE(filters.stopAt(true), FlowObserver::NoStop);
    flow.takeFilterStop(filters.stopAt(true));
    result = flow.resume();
    QVERIFY(!result.has(Event::LimitReached));
    QCOMPARE(flow.delivered(), quint64(10));
    QCOMPARE(Loopback::readExactly(upstream.peer.fd(), 5), QByteArray("56789"));

    // The source's FIN: every filter hears the end once, after its bytes.
    client.peer.shutdownWrite();
    QTRY_VERIFY(flow.pump().has(Event::Ended)); // pumped again once more: the FIN is read again
    QCOMPARE(lenient.ends, 0); // the owner marks the end, and the filters hear it then
    flow.markEnded();
    flow.markEnded();
    QCOMPARE(lenient.ends, 1);
    QCOMPARE(holding.ends, 1);
}

QTEST_GUILESS_MAIN(tst_Flow)
#include "tst_flow.moc"
