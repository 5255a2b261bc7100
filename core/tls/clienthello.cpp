#include "clienthello.h"

namespace {

constexpr quint8 HandshakeRecord = 22;
constexpr quint8 ClientHelloType = 1;
constexpr qsizetype RecordHeader = 5;
// A plaintext record holds at most 2^14 bytes; a longer one is not TLS.
constexpr quint32 MaxRecord = 16384;

// A cursor over bytes that turns every overrun into a failure, so that the
// parser reads nothing it was not given however the lengths lie.
class Reader
{
public:
    explicit Reader(QByteArrayView data, bool ok = true) : m_data(data), m_ok(ok) {}

    bool ok() const { return m_ok; }
    bool atEnd() const { return m_at >= m_data.size(); }
    QByteArrayView all() const { return m_data; }
    quint32 number(int bytes)
    {
        if (!take(bytes))
            return 0;
        quint32 value = 0;
        for (int i = 0; i < bytes; ++i)
            value = (value << 8) | quint8(m_data[m_at - bytes + i]);
        return value;
    }
    void skip(qsizetype count) { take(count); }
    // The field that follows, its length first in lengthBytes.
    Reader field(int lengthBytes)
    {
        const qsizetype length = number(lengthBytes);
        if (!take(length))
            return Reader({}, false);
        return Reader(m_data.sliced(m_at - length, length));
    }

private:
    bool take(qsizetype count)
    {
        if (!m_ok || count > m_data.size() - m_at) {
            m_ok = false;
            return false;
        }
        m_at += count;
        return true;
    }

    QByteArrayView m_data;
    qsizetype m_at = 0;
    bool m_ok;
};

bool isEcdsaSuite(quint32 suite)
{
    // The TLS 1.2 and older ECDHE_ECDSA suites that a client without a
    // signature_algorithms extension may offer.
    switch (suite) {
    case 0xC009: case 0xC00A: case 0xC023: case 0xC024: case 0xC02B: case 0xC02C: case 0xCCA9:
        return true;
    default:
        return false;
    }
}

// The extensions this reader cares about; false when one is malformed.
bool readExtension(quint32 type, Reader data, ClientHello *hello, bool *sawSignatureAlgorithms)
{
    switch (type) {
    case 0: { // server_name: the first host_name entry
        Reader names = data.field(2);
        while (names.ok() && !names.atEnd()) {
            const quint32 kind = names.number(1);
            const Reader name = names.field(2);
            if (names.ok() && kind == 0 && hello->serverName.isEmpty())
                hello->serverName = QString::fromLatin1(name.all()).toLower();
        }
        return names.ok();
    }
    case 13: { // signature_algorithms
        *sawSignatureAlgorithms = true;
        Reader schemes = data.field(2);
        while (schemes.ok() && !schemes.atEnd()) {
            if (schemes.number(2) == 0x0403) // ecdsa_secp256r1_sha256
                hello->offersEcdsa = true;
        }
        return schemes.ok();
    }
    case 16: { // application_layer_protocol_negotiation
        Reader protocols = data.field(2);
        while (protocols.ok() && !protocols.atEnd()) {
            const Reader protocol = protocols.field(1);
            if (protocols.ok())
                hello->alpn.append(protocol.all().toByteArray());
        }
        return protocols.ok();
    }
    case 43: { // supported_versions
        Reader versions = data.field(1);
        while (versions.ok() && !versions.atEnd()) {
            const quint32 version = versions.number(2);
            // GREASE values (0x?a?a) are not versions.
            if ((version & 0x0f0f) != 0x0a0a && version <= 0x0304 && version > hello->maxVersion)
                hello->maxVersion = quint16(version);
        }
        return versions.ok();
    }
    default:
        return true;
    }
}

// The ClientHello message body (after its four-byte handshake header).
bool readHello(Reader body, ClientHello *hello)
{
    hello->maxVersion = quint16(body.number(2));
    body.skip(32);        // random
    body.field(1);        // legacy_session_id
    Reader suites = body.field(2);
    body.field(1);        // legacy_compression_methods
    if (!body.ok())
        return false;
    bool ecdsaSuite = false;
    while (suites.ok() && !suites.atEnd())
        ecdsaSuite = isEcdsaSuite(suites.number(2)) || ecdsaSuite;
    bool sawSignatureAlgorithms = false;
    if (!body.atEnd()) {
        Reader extensions = body.field(2);
        while (extensions.ok() && !extensions.atEnd()) {
            const quint32 type = extensions.number(2);
            const Reader data = extensions.field(2);
            if (!extensions.ok() || !readExtension(type, data, hello, &sawSignatureAlgorithms))
                return false;
        }
        if (!extensions.ok())
            return false;
    }
    if (!sawSignatureAlgorithms)
        hello->offersEcdsa = ecdsaSuite;
    return suites.ok();
}

} // namespace

ClientHello::Status ClientHello::parse(QByteArrayView data, ClientHello *out)
{
    // The handshake message may be split over several records: gather its
    // fragments until its stated length is there.
    QByteArray message;
    qsizetype at = 0;
    qsizetype wanted = -1; // the whole message's length, once its header is in
    while (wanted < 0 || message.size() < wanted) {
        if (data.size() - at < RecordHeader) {
            // Judge what is there already: plain HTTP fails on its first byte.
            if (data.size() > at && quint8(data[at]) != HandshakeRecord)
                return Status::NotClientHello;
            if (data.size() > at + 1 && quint8(data[at + 1]) != 3)
                return Status::NotClientHello;
            return at >= MaxBytes ? Status::NotClientHello : Status::NeedMore;
        }
        Reader header(data.sliced(at, RecordHeader));
        const quint32 type = header.number(1);
        const quint32 major = header.number(1);
        header.number(1); // minor: any; clients send 1 (TLS 1.0) for compatibility
        const quint32 length = header.number(2);
        if (type != HandshakeRecord || major != 3 || length == 0 || length > MaxRecord
            || at + RecordHeader + qsizetype(length) > MaxBytes)
            return Status::NotClientHello;
        if (data.size() - at - RecordHeader < qsizetype(length)) {
            // Only complete records are used, so a message's header may
            // still be unread here; check what can be checked.
            if (message.isEmpty() && data.size() - at > RecordHeader && quint8(data[at + RecordHeader]) != ClientHelloType)
                return Status::NotClientHello;
            return Status::NeedMore;
        }
        message.append(data.sliced(at + RecordHeader, length));
        at += RecordHeader + qsizetype(length);
        if (wanted < 0 && message.size() >= 4) {
            if (quint8(message[0]) != ClientHelloType)
                return Status::NotClientHello;
            wanted = 4 + ((qsizetype(quint8(message[1])) << 16) | (quint8(message[2]) << 8) | quint8(message[3]));
            if (wanted > MaxBytes)
                return Status::NotClientHello;
        }
    }
    ClientHello hello;
    if (!readHello(Reader(QByteArrayView(message).sliced(4, wanted - 4)), &hello))
        return Status::NotClientHello;
    hello.bytes = at;
    *out = std::move(hello);
    return Status::Complete;
}
