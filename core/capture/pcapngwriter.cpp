#include "pcapngwriter.h"

#include "conversationframer.h"

#include "endpoint.h"

#include <QHostAddress>
#include <QIODevice>
#include <QtEndian>

#include <algorithm>

namespace {

// Block types and options of pcapng (draft-ietf-opsawg-pcapng).
constexpr quint32 SectionHeader = 0x0A0D0D0A;
constexpr quint32 InterfaceDescription = 0x00000001;
constexpr quint32 EnhancedPacket = 0x00000006;
constexpr quint16 LinkTypeRaw = 101; // a raw IPv4 or IPv6 packet
constexpr quint16 OptionEnd = 0, OptionComment = 1, OptionInterfaceName = 2, OptionTimestampResolution = 9;
constexpr qsizetype Segment = 32 * 1024;

void put16(QByteArray &out, quint16 value)
{
    char bytes[2];
    qToLittleEndian(value, bytes);
    out.append(bytes, 2);
}

void put32(QByteArray &out, quint32 value)
{
    char bytes[4];
    qToLittleEndian(value, bytes);
    out.append(bytes, 4);
}

void option(QByteArray &out, quint16 code, QByteArrayView value)
{
    put16(out, code);
    put16(out, quint16(value.size()));
    out.append(value);
    while (out.size() % 4)
        out.append('\0');
}

// A block: type, length, body (padded to 32 bits), length again.
QByteArray block(quint32 type, QByteArray body)
{
    while (body.size() % 4)
        body.append('\0');
    QByteArray out;
    const quint32 length = quint32(body.size() + 12);
    put32(out, type);
    put32(out, length);
    out += body;
    put32(out, length);
    return out;
}

struct Address
{
    QHostAddress host;
    quint16 port = 0;
    bool isValid() const { return !host.isNull(); }
};

Address addressOf(const QString &text)
{
    Endpoint endpoint;
    QString error;
    if (!Endpoint::parse(text, &endpoint, &error))
        return {};
    return {QHostAddress(endpoint.host), endpoint.port};
}

quint16 checksum(const QByteArray &data, quint32 sum = 0)
{
    for (qsizetype i = 0; i + 1 < data.size(); i += 2)
        sum += quint32(quint8(data[i]) << 8 | quint8(data[i + 1]));
    if (data.size() % 2)
        sum += quint32(quint8(data.back()) << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return quint16(~sum);
}

void putBig16(QByteArray &out, qsizetype at, quint16 value)
{
    qToBigEndian(value, out.data() + at);
}

// One TCP connection, synthesized: sequence numbers each way, packets out.
class Leg
{
public:
    Leg(quint32 interface, Address initiator, Address responder, quint32 initiatorIsn, quint32 responderIsn)
        : m_interface(interface)
        , m_ends{initiator, responder}
        , m_sequence{initiatorIsn, responderIsn}
    {
    }

    void handshake(qint64 ns, QByteArray &out)
    {
        packet(ns, 0, 0x02, {}, out);      // SYN
        ++m_sequence[0];
        packet(ns + 1000, 1, 0x12, {}, out); // SYN, ACK
        ++m_sequence[1];
        packet(ns + 2000, 0, 0x10, {}, out); // ACK
    }

    // Bytes from one side (0: initiator), in segments; the other acknowledges.
    void data(qint64 ns, int from, QByteArrayView bytes, QByteArray &out, const QByteArray &comment = {})
    {
        for (qsizetype at = 0; at < bytes.size(); at += Segment) {
            const QByteArrayView piece = bytes.sliced(at, qMin(Segment, bytes.size() - at));
            packet(ns, from, 0x18, piece, out, at == 0 ? comment : QByteArray()); // PSH, ACK
            m_sequence[from] += quint32(piece.size());
            ns += 1;
        }
    }

    // Bytes that crossed but were not kept: the numbers jump.
    void gap(int from, quint64 bytes) { m_sequence[from] += quint32(bytes); }

    void fin(qint64 ns, int from, QByteArray &out)
    {
        packet(ns, from, 0x11, {}, out); // FIN, ACK
        ++m_sequence[from];
        packet(ns + 1000, 1 - from, 0x10, {}, out);
    }

    void reset(qint64 ns, int from, QByteArray &out) { packet(ns, from, 0x14, {}, out); } // RST, ACK

private:
    void packet(qint64 ns, int from, quint8 flags, QByteArrayView payload, QByteArray &out,
                const QByteArray &comment = {})
    {
        const Address &source = m_ends[from];
        const Address &destination = m_ends[1 - from];
        const bool v6 = source.host.protocol() == QAbstractSocket::IPv6Protocol;
        QByteArray tcp(20, '\0');
        putBig16(tcp, 0, source.port);
        putBig16(tcp, 2, destination.port);
        qToBigEndian(m_sequence[from], tcp.data() + 4);
        qToBigEndian((flags & 0x10) ? m_sequence[1 - from] : 0u, tcp.data() + 8);
        tcp[12] = char(5 << 4);
        tcp[13] = char(flags);
        putBig16(tcp, 14, 65535);
        tcp += payload;
        // The pseudo-header's sum, then the segment's.
        QByteArray pseudo;
        if (v6) {
            const Q_IPV6ADDR s = source.host.toIPv6Address(), d = destination.host.toIPv6Address();
            pseudo.append(reinterpret_cast<const char *>(&s), 16).append(reinterpret_cast<const char *>(&d), 16);
            pseudo.append(char(0)).append(char(0));
            pseudo.append(char(tcp.size() >> 8)).append(char(tcp.size()));
            pseudo.append(3, '\0').append(char(6));
        } else {
            char addresses[8];
            qToBigEndian(source.host.toIPv4Address(), addresses);
            qToBigEndian(destination.host.toIPv4Address(), addresses + 4);
            pseudo.append(addresses, 8).append(char(0)).append(char(6));
            pseudo.append(char(tcp.size() >> 8)).append(char(tcp.size()));
        }
        quint32 sum = 0;
        for (qsizetype i = 0; i < pseudo.size(); i += 2)
            sum += quint32(quint8(pseudo[i]) << 8 | quint8(pseudo[i + 1]));
        putBig16(tcp, 16, checksum(tcp, sum));

        QByteArray ip;
        if (v6) {
            ip = QByteArray(40, '\0');
            ip[0] = char(0x60);
            putBig16(ip, 4, quint16(tcp.size()));
            ip[6] = char(6);
            ip[7] = char(64);
            const Q_IPV6ADDR s = source.host.toIPv6Address(), d = destination.host.toIPv6Address();
            memcpy(ip.data() + 8, &s, 16);
            memcpy(ip.data() + 24, &d, 16);
        } else {
            ip = QByteArray(20, '\0');
            ip[0] = char(0x45);
            putBig16(ip, 2, quint16(20 + tcp.size()));
            putBig16(ip, 4, m_ipId++);
            putBig16(ip, 6, 0x4000); // don't fragment
            ip[8] = char(64);
            ip[9] = char(6);
            qToBigEndian(source.host.toIPv4Address(), ip.data() + 12);
            qToBigEndian(destination.host.toIPv4Address(), ip.data() + 16);
            putBig16(ip, 10, checksum(ip));
        }
        ip += tcp;

        QByteArray body;
        put32(body, m_interface);
        put32(body, quint32(quint64(ns) >> 32));
        put32(body, quint32(quint64(ns)));
        put32(body, quint32(ip.size()));
        put32(body, quint32(ip.size()));
        body += ip;
        while (body.size() % 4)
            body.append('\0');
        if (!comment.isEmpty()) {
            option(body, OptionComment, comment);
            option(body, OptionEnd, {});
        }
        out += block(EnhancedPacket, body);
    }

    quint32 m_interface;
    Address m_ends[2];
    quint32 m_sequence[2];
    quint16 m_ipId = 1;
};

// What crossed one way at one time.
struct Piece
{
    qint64 ns = 0;
    int from = 0;        // 0: the client (initiator), 1: the other end
    QByteArray bytes;
    quint64 missing = 0; // bytes after these that were not kept
};

qint64 nsOf(qint64 ms)
{
    return ms * 1'000'000;
}

// A body's wire bytes as far as they are known, and how many decoded body
// bytes were left out.
QByteArray bodyWire(const QByteArray &kept, quint64 total, const ChunkFraming &framing, quint64 *missing)
{
    qsizetype covered = kept.size();
    const QByteArray wire = framing.isEmpty() ? kept : framing.wire(kept, &covered);
    *missing = total > quint64(covered) ? total - quint64(covered) : 0;
    return wire;
}

// The pieces of a connection in time order: requests from the client,
// answers from the server. Times are the exchange's, in whole
// milliseconds; pieces keep their order within a millisecond.
QList<Piece> piecesOf(const CaptureSnapshot::Entry &entry, quint64 *sentUp, quint64 *sentDown)
{
    QList<Piece> pieces;
    const ConnectionRecord &record = entry.record;
    const qint64 opened = nsOf(record.openedMs) + 10'000;
    if (record.raw) {
        // Read by read, in the order and at the times they crossed (a file
        // from before reads were kept: each side's bytes at once, the
        // client's first).
        qint64 previous = opened;
        for (const ConversationFramer::Message &read : ConversationFramer::frame(record, ConversationFramer::Framing())) {
            const qint64 at = qMax(previous + 1000, nsOf(record.openedMs) + read.atUs * 1000);
            pieces.append({at, read.fromClient ? 0 : 1, read.bytes, 0});
            previous = at;
        }
    }
    for (const HttpExchange &exchange : entry.exchanges) {
        if (!exchange.request.isEmpty()) {
            Piece request{nsOf(exchange.requestStartMs), 0, exchange.request.raw, 0};
            request.bytes += bodyWire(exchange.requestBody, exchange.requestBodyBytes, exchange.requestFraming,
                                      &request.missing);
            pieces.append(request);
        }
        QByteArray answer;
        for (const HttpHead &interim : exchange.interim)
            answer += interim.raw;
        if (exchange.hasResponse()) {
            Piece response{nsOf(exchange.responseStartMs), 1, answer + exchange.response.raw, 0};
            response.bytes += bodyWire(exchange.responseBody, exchange.responseBodyBytes, exchange.responseFraming,
                                       &response.missing);
            pieces.append(response);
        } else if (!answer.isEmpty()) {
            pieces.append({nsOf(exchange.responseStartMs), 1, answer, 0});
        }
    }
    std::stable_sort(pieces.begin(), pieces.end(), [](const Piece &a, const Piece &b) { return a.ns < b.ns; });
    for (const Piece &piece : std::as_const(pieces))
        (piece.from == 0 ? *sentUp : *sentDown) += quint64(piece.bytes.size()) + piece.missing;
    return pieces;
}

// Which end closed first, and how: the record's close reason.
struct Ending
{
    int from = -1; // -1: proxymon closed both legs (an error, a timeout, a stop)
    bool reset = false;
};

Ending endingOf(const ConnectionRecord &record)
{
    using Reason = ConnectionRecord::CloseReason;
    switch (record.closeReason) {
    case Reason::ClientFin: return {0, false};
    case Reason::UpstreamFin: return {1, false};
    case Reason::ClientReset: return {0, true};
    case Reason::UpstreamReset: return {1, true};
    default: return {-1, false};
    }
}

void writeLeg(Leg &leg, const QList<Piece> &pieces, const ConnectionRecord &record, bool upstreamLeg,
              quint64 trailingUp, quint64 trailingDown, const QByteArray &note, QByteArray &out)
{
    // The upstream leg trails the client leg by a microsecond: proxymon
    // passes each piece on after it arrives.
    const qint64 lag = upstreamLeg ? 1000 : 0;
    leg.handshake(nsOf(record.openedMs) + lag + (upstreamLeg ? 5000 : 0), out);
    bool first = true;
    for (const Piece &piece : pieces) {
        if (piece.bytes.isEmpty() && piece.missing == 0)
            continue;
        leg.data(piece.ns + lag, piece.from, piece.bytes, out, first ? note : QByteArray());
        first = false;
        leg.gap(piece.from, piece.missing);
    }
    leg.gap(0, trailingUp);
    leg.gap(1, trailingDown);
    if (!record.isClosed())
        return;
    const qint64 end = nsOf(record.closedMs) + lag;
    const Ending ending = endingOf(record);
    // The side that ended it did so on its own leg; proxymon passed it on
    // to the other leg from its own end.
    const bool ownLeg = (ending.from == 0 && !upstreamLeg) || (ending.from == 1 && upstreamLeg);
    const int proxymonSide = upstreamLeg ? 0 : 1;
    const int closer = ending.from < 0 ? proxymonSide : ownLeg ? ending.from : proxymonSide;
    if (ending.reset) {
        leg.reset(end, closer, out);
        return;
    }
    leg.fin(end, closer, out);
    leg.fin(end + 2000, 1 - closer, out);
}

} // namespace

quint32 PcapngWriter::initialSequence(quint64 connectionId, bool upstreamLeg, bool fromInitiator)
{
    // Spread over the whole range (Knuth's multiplicative hash), so that
    // wrapping past 2^32 is common rather than never.
    return quint32(connectionId * 2654435761u) ^ (upstreamLeg ? 0x5a5a0000u : 0) ^ (fromInitiator ? 0 : 0x0000a5a5u);
}

CaptureExport::Counts PcapngWriter::write(const CaptureSnapshot &snapshot, QIODevice *device,
                                          const CaptureExport::Progress &progress)
{
    CaptureExport::Counts counts;
    QByteArray header;
    put32(header, 0x1A2B3C4D); // byte-order magic
    put16(header, 1);
    put16(header, 0);
    put32(header, 0xffffffff); // section length: not given
    put32(header, 0xffffffff);
    option(header, OptionComment,
           "proxymon: TCP framing (handshakes, segments, sequence numbers, acknowledgements) is synthesized "
           "around the bytes proxymon recorded; bytes it did not keep show as missing segments");
    option(header, OptionEnd, {});
    QByteArray out = block(SectionHeader, header);
    for (const char *name : {"proxymon client legs (client - proxymon)", "proxymon upstream legs (proxymon - upstream)"}) {
        QByteArray description;
        put16(description, LinkTypeRaw);
        put16(description, 0);
        put32(description, 0); // snap length: none
        option(description, OptionInterfaceName, name);
        option(description, OptionTimestampResolution, QByteArray(1, char(9))); // nanoseconds
        option(description, OptionEnd, {});
        out += block(InterfaceDescription, description);
    }
    if (device->write(out) != out.size()) {
        counts.complete = false;
        return counts;
    }

    for (const CaptureSnapshot::Entry &entry : snapshot.entries) {
        const ConnectionRecord &record = entry.record;
        out.clear();
        quint64 sentUp = 0;
        quint64 sentDown = 0;
        const QList<Piece> pieces = piecesOf(entry, &sentUp, &sentDown);
        const bool decrypted = record.decryption == ConnectionRecord::Decryption::Decrypted || !record.clientTls().isEmpty();
        // Bytes that crossed after the last kept ones: a raw stream's rest,
        // a tunnel's contents. Not where the counts are of other bytes:
        // a decrypted leg's (TLS records), an HTTP proxy's plain requests
        // (the heads as rewritten for the upstream).
        const bool tunnelled = std::any_of(entry.exchanges.cbegin(), entry.exchanges.cend(),
                                           [](const HttpExchange &exchange) { return exchange.tunnel; });
        const bool comparable = !decrypted && (!record.httpProxy || tunnelled);
        const quint64 trailingUp = !comparable || record.bytesUp < sentUp ? 0 : record.bytesUp - sentUp;
        const quint64 trailingDown = !comparable || record.bytesDown < sentDown ? 0 : record.bytesDown - sentDown;
        QByteArray note = "proxymon connection " + QByteArray::number(record.id);
        if (decrypted)
            note += ": decrypted, the bytes inside TLS";
        if (record.raw)
            note += record.rawReads.isEmpty() ? QByteArray(": not HTTP; the first bytes each way, the client's placed first")
                                              : QByteArray(": not HTTP; the first bytes each way, read by read");

        Address client = addressOf(record.client);
        Address acceptedOn = addressOf(record.acceptedOn);
        if (client.isValid()) {
            if (!acceptedOn.isValid()) // a file from before proxymon recorded it
                acceptedOn = {client.host.protocol() == QAbstractSocket::IPv6Protocol ? QHostAddress(QHostAddress::LocalHostIPv6)
                                                                                      : QHostAddress(QHostAddress::LocalHost), 0};
            Leg leg(0, client, acceptedOn, initialSequence(record.id, false, true), initialSequence(record.id, false, false));
            writeLeg(leg, pieces, record, false, trailingUp, trailingDown, note, out);
        }
        const Address from = addressOf(record.upstreamFrom);
        const Address upstream = addressOf(record.upstreamAddress);
        if (!record.httpProxy && from.isValid() && upstream.isValid()) {
            Leg leg(1, from, upstream, initialSequence(record.id, true, true), initialSequence(record.id, true, false));
            writeLeg(leg, pieces, record, true, trailingUp, trailingDown, note, out);
        }
        if (!counts.written(device, out, entry.exchanges.size(), snapshot.entries.size(), progress))
            return counts;
    }
    return counts;
}
