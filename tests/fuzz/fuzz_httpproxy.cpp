// libFuzzer target for the HTTP proxy's request path (parse, refuse,
// rewrite, frame again) against the invariant of tst_desync: whatever the
// front hands an upstream, every reference reader (strict RFC 9112, LF or
// a bare CR as line end, CRLF-only chunk lines, Content-Length wins)
// splits into the same requests, and a strict reader never rejects it.
//
// Input: byte 0 = chunk size (1-64), then the client's bytes. The upstream
// answers each request a strict reader finds complete (200, no body), and
// one whose target starts "/e" as soon as its head is in, as a server
// refusing an upload early does.

#include "httpproxyfront.h"
#include "referencereaders.h"

#include <cstdint>
#include <cstdlib>

namespace {

void check(bool condition)
{
    if (!condition)
        std::abort();
}

struct Upstream
{
    QByteArray bytes;
    qsizetype answered = 0;
    QList<qsizetype> early;
};

// Answers what the upstream has read so far that it has not answered.
void answer(HttpProxyFront &front, Upstream &upstream)
{
    const ReferenceReaders::Rules &strict = ReferenceReaders::all().first();
    const ReferenceReaders::Reading reading = ReferenceReaders::read(upstream.bytes, strict);
    static const QByteArray ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    for (; upstream.answered < reading.requests.size(); ++upstream.answered) {
        if (!upstream.early.contains(reading.requests[upstream.answered].begin) && front.inFlight() > 0)
            front.upstreamBytes(ok);
    }
    const ReferenceReaders::Request &partial = reading.partial;
    if (reading.outcome == ReferenceReaders::Reading::Outcome::Partial && partial.end > 0
        && partial.target.startsWith("/e") && !upstream.early.contains(partial.begin) && front.inFlight() > 0) {
        upstream.early.append(partial.begin);
        front.upstreamBytes("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const qsizetype chunk = 1 + data[0] % 64;
    const QByteArrayView client(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));

    using Step = HttpProxyFront::Step;
    HttpHeadParser::Limits limits;
    limits.maxBytes = 2048;
    limits.maxHeaders = 32;
    HttpProxyFront front(limits, QByteArray());
    QList<Upstream> upstreams;
    qsizetype at = 0;
    qsizetype taken = 0;
    for (int round = 0; round < 100'000; ++round) {
        const Step step = front.step();
        if (step == Step::Send) {
            check(!upstreams.isEmpty());
            const QByteArrayView out = front.outgoing();
            const qsizetype n = qMin(out.size(), chunk);
            upstreams.last().bytes += out.first(n);
            front.sent(n);
            answer(front, upstreams.last());
            continue;
        }
        if (step == Step::Connect) {
            upstreams.append(Upstream());
            front.connected();
            continue;
        }
        if (step == Step::Answer) {
            const int status = front.answer().status;
            check(status == 400 || status == 431 || status == 502 || status == 508);
            break;
        }
        if (step == Step::Tunnel)
            break;
        if (at < client.size() && front.wantsClientBytes(4096)) {
            const qsizetype n = qMin(chunk, client.size() - at);
            const qsizetype took = front.clientBytes(client.sliced(at, n));
            check(took >= 0 && took <= n);
            // Once it takes less than it is given, it takes nothing more.
            check(taken == at || took == 0);
            taken += took;
            at += n;
        } else if (at == client.size() && !front.clientHasEnded()) {
            front.clientEnded();
        } else {
            break;
        }
    }
    for (const Upstream &upstream : upstreams) {
        check(ReferenceReaders::disagreement(upstream.bytes).isEmpty());
        const ReferenceReaders::Reading strict = ReferenceReaders::read(upstream.bytes, ReferenceReaders::all().first());
        check(strict.outcome != ReferenceReaders::Reading::Outcome::Error);
    }
    return 0;
}
