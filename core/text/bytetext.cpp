#include "bytetext.h"

namespace ByteText {

namespace {

const char Hex[] = "0123456789abcdef";

void appendHex(QString &out, unsigned char c)
{
    out.append(QLatin1Char(Hex[c >> 4]));
    out.append(QLatin1Char(Hex[c & 0xf]));
}

} // namespace

qsizetype utf8Length(QByteArrayView data, qsizetype i)
{
    const auto byte = [&](qsizetype k) { return static_cast<unsigned char>(data[k]); };
    const unsigned char lead = byte(i);
    if (lead < 0x80)
        return 1;
    qsizetype length = 0;
    unsigned int minimum = 0;
    unsigned int codePoint = 0;
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2; codePoint = lead & 0x1f; minimum = 0x80;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3; codePoint = lead & 0x0f; minimum = 0x800;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4; codePoint = lead & 0x07; minimum = 0x10000;
    } else {
        return 0;
    }
    if (i + length > data.size())
        return 0;
    for (qsizetype k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80)
            return 0;
        codePoint = (codePoint << 6) | (byte(i + k) & 0x3f);
    }
    if (codePoint < minimum || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff))
        return 0;
    return length;
}

QString readable(QByteArrayView bytes)
{
    QString out;
    out.reserve(bytes.size());
    for (qsizetype i = 0; i < bytes.size();) {
        const unsigned char c = static_cast<unsigned char>(bytes[i]);
        if (c == '\r' && i + 1 < bytes.size() && bytes[i + 1] == '\n') {
            ++i; // CRLF: the line feed makes the break
            continue;
        }
        if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) {
            out.append(QLatin1Char(char(c)));
            ++i;
            continue;
        }
        const qsizetype length = c < 0x80 ? 0 : utf8Length(bytes, i);
        if (length > 0) {
            out.append(QString::fromUtf8(bytes.sliced(i, length)));
            i += length;
        } else {
            out.append(QLatin1String("\\x"));
            appendHex(out, c);
            ++i;
        }
    }
    return out;
}

QString hexDump(QByteArrayView bytes)
{
    QString out;
    out.reserve(bytes.size() * 4 + bytes.size() / 16 * 12);
    for (qsizetype line = 0; line < bytes.size(); line += 16) {
        out.append(QStringLiteral("%1  ").arg(line, 8, 16, QLatin1Char('0')));
        for (qsizetype k = 0; k < 16; ++k) {
            if (line + k < bytes.size()) {
                appendHex(out, static_cast<unsigned char>(bytes[line + k]));
                out.append(QLatin1Char(' '));
            } else {
                out.append(QLatin1String("   "));
            }
            if (k == 7)
                out.append(QLatin1Char(' '));
        }
        out.append(QLatin1String(" |"));
        for (qsizetype k = 0; k < 16 && line + k < bytes.size(); ++k) {
            const char c = bytes[line + k];
            out.append(QLatin1Char(c >= 0x20 && c < 0x7f ? c : '.'));
        }
        out.append(QLatin1String("|\n"));
    }
    return out;
}

} // namespace ByteText
