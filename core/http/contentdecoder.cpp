#include "contentdecoder.h"

#include <QList>

#include <brotli/decode.h>
#include <zlib.h>

namespace {

QByteArrayView trimmed(QByteArrayView text)
{
    while (!text.isEmpty() && (text.front() == ' ' || text.front() == '\t'))
        text = text.sliced(1);
    while (!text.isEmpty() && (text.back() == ' ' || text.back() == '\t'))
        text.chop(1);
    return text;
}

constexpr qsizetype Step = 64 * 1024;

// Output grows a step at a time up to the cap. take() makes room for the
// next step (false once the cap is reached), done() keeps what the decoder
// wrote into it.
class OutputSteps
{
public:
    OutputSteps(QByteArray *bytes, bool *capped, qsizetype maxBytes)
        : m_bytes(bytes), m_capped(capped), m_maxBytes(maxBytes) {}

    bool take(char **next, qsizetype *room)
    {
        const qsizetype left = m_maxBytes - m_bytes->size();
        if (left <= 0) {
            *m_capped = true;
            return false;
        }
        m_before = m_bytes->size();
        m_step = qMin(left, Step);
        m_bytes->resize(m_before + m_step);
        *next = m_bytes->data() + m_before;
        *room = m_step;
        return true;
    }
    void done(qsizetype unused) { m_bytes->resize(m_before + m_step - unused); }

private:
    QByteArray *m_bytes;
    bool *m_capped;
    const qsizetype m_maxBytes;
    qsizetype m_before = 0;
    qsizetype m_step = 0;
};

} // namespace

ContentDecoder::Result ContentDecoder::decode(QByteArrayView body, QByteArrayView contentEncoding, qsizetype maxBytes)
{
    QList<QByteArrayView> codings;
    for (QByteArrayView rest = contentEncoding; !rest.isEmpty();) {
        const qsizetype comma = rest.indexOf(',');
        const QByteArrayView coding = trimmed(comma < 0 ? rest : rest.first(comma));
        if (!coding.isEmpty() && coding.compare("identity", Qt::CaseInsensitive) != 0)
            codings.append(coding);
        rest = comma < 0 ? QByteArrayView() : rest.sliced(comma + 1);
    }

    Result result;
    result.bytes = body.toByteArray();
    result.complete = true;
    // The last coding applied is the first to undo.
    for (qsizetype i = codings.size() - 1; i >= 0; --i) {
        const QByteArrayView coding = codings[i];
        Result step;
        if (coding.compare("gzip", Qt::CaseInsensitive) == 0 || coding.compare("x-gzip", Qt::CaseInsensitive) == 0)
            step = inflate(result.bytes, true, maxBytes);
        else if (coding.compare("deflate", Qt::CaseInsensitive) == 0)
            step = inflate(result.bytes, false, maxBytes);
        else if (coding.compare("br", Qt::CaseInsensitive) == 0)
            step = brotli(result.bytes, maxBytes);
        else {
            result.error = QStringLiteral("unsupported content coding \"%1\"").arg(QString::fromLatin1(coding));
            return result;
        }
        step.decoded = true;
        step.complete = step.complete && result.complete;
        step.capped = step.capped || result.capped;
        result = std::move(step);
        if (!result.error.isEmpty())
            return result;
    }
    return result;
}

ContentDecoder::Result ContentDecoder::inflate(QByteArrayView input, bool gzip, qsizetype maxBytes)
{
    if (gzip)
        return inflateWith(input, 16 + MAX_WBITS, maxBytes);
    // RFC 9110 deflate is zlib-wrapped, but some servers send raw deflate.
    Result wrapped = inflateWith(input, MAX_WBITS, maxBytes);
    if (wrapped.error.isEmpty() || !wrapped.bytes.isEmpty())
        return wrapped;
    Result raw = inflateWith(input, -MAX_WBITS, maxBytes);
    return raw.error.isEmpty() ? raw : wrapped;
}

ContentDecoder::Result ContentDecoder::inflateWith(QByteArrayView input, int windowBits, qsizetype maxBytes)
{
    Result result;
    z_stream stream{};
    if (inflateInit2(&stream, windowBits) != Z_OK) {
        result.error = QStringLiteral("zlib could not start");
        return result;
    }
    stream.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(input.data()));
    stream.avail_in = uInt(input.size());
    OutputSteps output(&result.bytes, &result.capped, maxBytes);
    char *next = nullptr;
    qsizetype room = 0;
    while (output.take(&next, &room)) {
        stream.next_out = reinterpret_cast<Bytef *>(next);
        stream.avail_out = uInt(room);
        const int status = ::inflate(&stream, Z_NO_FLUSH);
        output.done(qsizetype(stream.avail_out));
        if (status == Z_STREAM_END) {
            // gzip allows several members one after another.
            if (windowBits > MAX_WBITS && stream.avail_in > 0) {
                inflateReset(&stream);
                continue;
            }
            result.complete = true;
            break;
        }
        if (status == Z_BUF_ERROR || (status == Z_OK && stream.avail_in == 0 && stream.avail_out > 0))
            break; // the input stopped early: what came out stands
        if (status != Z_OK) {
            result.error = QStringLiteral("corrupt %1 data%2")
                               .arg(windowBits > MAX_WBITS ? QStringLiteral("gzip") : QStringLiteral("deflate"),
                                    stream.msg ? QStringLiteral(": ") + QString::fromLatin1(stream.msg) : QString());
            break;
        }
    }
    inflateEnd(&stream);
    return result;
}

ContentDecoder::Result ContentDecoder::brotli(QByteArrayView input, qsizetype maxBytes)
{
    Result result;
    BrotliDecoderState *state = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
    if (!state) {
        result.error = QStringLiteral("brotli could not start");
        return result;
    }
    size_t availableIn = size_t(input.size());
    const uint8_t *nextIn = reinterpret_cast<const uint8_t *>(input.data());
    OutputSteps output(&result.bytes, &result.capped, maxBytes);
    char *next = nullptr;
    qsizetype room = 0;
    while (output.take(&next, &room)) {
        size_t availableOut = size_t(room);
        uint8_t *nextOut = reinterpret_cast<uint8_t *>(next);
        const BrotliDecoderResult status
            = BrotliDecoderDecompressStream(state, &availableIn, &nextIn, &availableOut, &nextOut, nullptr);
        output.done(qsizetype(availableOut));
        if (status == BROTLI_DECODER_RESULT_SUCCESS) {
            result.complete = true;
            break;
        }
        if (status == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT)
            break; // the input stopped early
        if (status == BROTLI_DECODER_RESULT_ERROR) {
            result.error = QStringLiteral("corrupt brotli data: %1")
                               .arg(QString::fromLatin1(BrotliDecoderErrorString(BrotliDecoderGetErrorCode(state))));
            break;
        }
        // NEEDS_MORE_OUTPUT: go round with more room.
    }
    BrotliDecoderDestroyInstance(state);
    return result;
}
