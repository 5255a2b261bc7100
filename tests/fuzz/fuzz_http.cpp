// libFuzzer target for the HTTP capture: the head parser on its own, a
// whole conversation fed in chunks of the fuzzer's choosing, the same
// conversation with its known body bytes passed by as the relay's splice
// path does (which must come out the same), and the HTTP proxy's front
// driven the way the relay drives it.
//
// Input: byte 0 = chunk size (1-64), bytes 1-2 = where the client's bytes
// end and the upstream's begin (little-endian, modulo the rest), then the
// bytes themselves.

#include "httpconversation.h"
#include "httpheadparser.h"
#include "httpproxyfront.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

void check(bool condition)
{
    if (!condition)
        std::abort();
}

void feedInChunks(HttpConversation &conversation, QByteArrayView bytes, qsizetype chunk, bool client, qint64 now)
{
    for (qsizetype i = 0; i < bytes.size(); i += chunk) {
        const QByteArrayView part = bytes.sliced(i, qMin(chunk, bytes.size() - i));
        if (client)
            conversation.clientBytes(part, now);
        else
            conversation.upstreamBytes(part, now);
    }
}

// As the relay's bulk path does: body bytes the conversation says are
// ahead are passed without being shown, the kept part written into the
// room it offers; everything else is shown.
void passInChunks(HttpConversation &conversation, QByteArrayView bytes, qsizetype chunk, bool client, qint64 now)
{
    qsizetype at = 0;
    while (at < bytes.size()) {
        const qsizetype n = qMin(chunk, bytes.size() - at);
        const HttpConversation::BodyWindow window = conversation.bodyWindow(client);
        if (window.ahead == 0) {
            check(window.roomBytes == 0);
            if (client)
                conversation.clientBytes(bytes.sliced(at, n), now);
            else
                conversation.upstreamBytes(bytes.sliced(at, n), now);
            at += n;
            continue;
        }
        check(quint64(window.roomBytes) <= window.ahead);
        const qsizetype passed = qsizetype(qMin<quint64>(quint64(n), window.roomBytes > 0 ? quint64(window.roomBytes) : window.ahead));
        if (window.roomBytes > 0)
            std::memcpy(window.room, bytes.data() + at, size_t(passed));
        conversation.bodyPassed(client, quint64(passed), now);
        at += passed;
    }
}

bool sameExchange(const HttpExchange &a, const HttpExchange &b)
{
    return a.sequence == b.sequence && a.flags == b.flags && a.complete == b.complete && a.tunnel == b.tunnel
        && a.request.raw == b.request.raw && a.response.raw == b.response.raw && a.requestBody == b.requestBody
        && a.responseBody == b.responseBody && a.requestBodyBytes == b.requestBodyBytes
        && a.responseBodyBytes == b.responseBodyBytes && a.requestCompleteMs == b.requestCompleteMs
        && a.responseCompleteMs == b.responseCompleteMs && a.interim.size() == b.interim.size();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    const qsizetype chunk = 1 + data[0] % 64;
    const QByteArrayView rest(reinterpret_cast<const char *>(data + 3), qsizetype(size - 3));
    const qsizetype split = rest.isEmpty() ? 0 : (data[1] | (data[2] << 8)) % (rest.size() + 1);
    const QByteArrayView client = rest.first(split);
    const QByteArrayView upstream = rest.sliced(split);

    // The pure parser on the raw input, both ways.
    for (const HttpHead::Kind kind : {HttpHead::Kind::Request, HttpHead::Kind::Response}) {
        const HttpHead head = HttpHeadParser::parse(rest, kind, 100, false);
        check(head.headers.size() <= 100);
        check(head.raw.size() == rest.size());
        // Every part is a span inside the head's bytes.
        const qsizetype bytes = head.raw.size() + head.assembled.size();
        const auto inside = [bytes](HttpHead::Span span) {
            return span.offset >= 0 && span.size >= 0 && span.offset + span.size <= bytes;
        };
        check(inside(head.methodSpan) && inside(head.targetSpan) && inside(head.versionSpan) && inside(head.reasonSpan));
        for (const HttpHead::Header &header : head.headers)
            check(inside(header.name) && inside(header.value));
    }

    HttpConversation::Limits limits;
    limits.head.maxBytes = 1024;
    limits.head.maxHeaders = 16;
    limits.bodyPrefixBytes = 64;
    limits.rawPrefixBytes = 64;
    HttpConversation conversation(1, limits);
    feedInChunks(conversation, client, chunk, true, 1);
    feedInChunks(conversation, upstream, chunk, false, 2);
    conversation.finish(3);
    const QList<HttpExchange> exchanges = conversation.takeFinished();

    HttpConversation passing(1, limits);
    passInChunks(passing, client, chunk, true, 1);
    passInChunks(passing, upstream, chunk, false, 2);
    passing.finish(3);
    const QList<HttpExchange> passed = passing.takeFinished();
    check(passed.size() == exchanges.size());
    for (qsizetype i = 0; i < passed.size(); ++i)
        check(sameExchange(passed[i], exchanges[i]));

    int sequence = 0;
    for (const HttpExchange &exchange : exchanges) {
        check(exchange.sequence > sequence);
        sequence = exchange.sequence;
        check(exchange.requestBody.size() <= 64 && exchange.responseBody.size() <= 64);
        check(quint64(exchange.requestBody.size()) <= exchange.requestBodyBytes);
        check(exchange.request.raw.size() <= 1024 && exchange.response.raw.size() <= 1024);
    }
    check(conversation.rawClientPrefix().size() <= 64 && conversation.rawUpstreamPrefix().size() <= 64);

    // The message stream's events end inside the bytes fed, in order.
    HttpMessageStream stream(HttpHead::Kind::Request, limits.head);
    QList<HttpMessageStream::Event> events;
    for (qsizetype i = 0; i < client.size(); i += chunk) {
        const QByteArrayView part = client.sliced(i, qMin(chunk, client.size() - i));
        stream.feed(part, &events);
        qsizetype end = 0;
        for (const HttpMessageStream::Event &event : events) {
            check(event.end >= end && event.end <= part.size());
            end = event.end;
        }
        events.clear();
    }

    using Step = HttpProxyFront::Step;
    HttpProxyFront front(limits.head, "proxymon-fuzz");
    qsizetype clientAt = 0;
    qsizetype upstreamAt = 0;
    for (int round = 0; round < 100'000; ++round) {
        const Step step = front.step();
        if (step == Step::Send) {
            const QByteArrayView out = front.outgoing();
            check(!out.isEmpty());
            front.sent(qMin(out.size(), chunk));
            continue;
        }
        if (step == Step::Connect) {
            check(!front.route().host.isEmpty() && front.route().port != 0);
            front.connected();
            continue;
        }
        if (step == Step::Answer) {
            const int status = front.answer().status;
            check(status == 400 || status == 403 || status == 431 || status == 502 || status == 504 || status == 508);
            check(!front.answer().why.isEmpty());
            break;
        }
        if (step == Step::Tunnel)
            break;
        if (clientAt < client.size() && front.wantsClientBytes(1024)) {
            const qsizetype n = qMin(chunk, client.size() - clientAt);
            front.clientBytes(client.sliced(clientAt, n));
            clientAt += n;
        } else if (upstreamAt < upstream.size() && front.hasUpstream()) {
            const qsizetype n = qMin(chunk, upstream.size() - upstreamAt);
            front.upstreamBytes(upstream.sliced(upstreamAt, n));
            upstreamAt += n;
        } else if (front.hasUpstream() && front.inFlight() > 0) {
            front.upstreamEnded();
        } else if (clientAt == client.size() && !front.clientHasEnded()) {
            front.clientEnded();
        } else {
            break;
        }
    }
    return 0;
}
