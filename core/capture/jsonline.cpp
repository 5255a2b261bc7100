#include "jsonline.h"

#include "bytetext.h"

namespace {

const char Hex[] = "0123456789abcdef";

void appendEscaped(QByteArray &out, char c)
{
    switch (c) {
    case '"': out.append("\\\""); return;
    case '\\': out.append("\\\\"); return;
    case '\n': out.append("\\n"); return;
    case '\r': out.append("\\r"); return;
    case '\t': out.append("\\t"); return;
    default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            out.append("\\u00");
            out.append(Hex[(c >> 4) & 0xf]);
            out.append(Hex[c & 0xf]);
        } else {
            out.append(c);
        }
    }
}

} // namespace

QByteArray JsonLine::quotedBytes(QByteArrayView bytes)
{
    QByteArray out;
    out.reserve(bytes.size() + 2);
    out.append('"');
    for (qsizetype i = 0; i < bytes.size();) {
        const unsigned char c = static_cast<unsigned char>(bytes[i]);
        if (c < 0x80) {
            appendEscaped(out, char(c));
            ++i;
            continue;
        }
        const qsizetype length = ByteText::utf8Length(bytes, i);
        if (length > 0) {
            out.append(bytes.sliced(i, length));
            i += length;
        } else {
            out.append("\\\\x");
            out.append(Hex[c >> 4]);
            out.append(Hex[c & 0xf]);
            ++i;
        }
    }
    out.append('"');
    return out;
}

QByteArray JsonLine::exactBytes(QByteArrayView bytes)
{
    // A JSON string holds any UTF-8 exactly (controls as \u00NN); the round
    // trip is the test, since it is what a reader will do.
    const QByteArray copy = bytes.toByteArray();
    if (QString::fromUtf8(copy).toUtf8() == copy)
        return quotedBytes(bytes);
    return "{\"base64\":\"" + copy.toBase64() + "\"}";
}

QByteArray JsonLine::quoted(const QString &text)
{
    return quotedBytes(text.toUtf8());
}

void JsonLine::key(const char *name)
{
    m_body.append(m_body.isEmpty() ? "{\"" : ",\"");
    m_body.append(name);
    m_body.append("\":");
}

JsonLine &JsonLine::add(const char *name, const QString &value)
{
    key(name);
    m_body.append(quoted(value));
    return *this;
}

JsonLine &JsonLine::add(const char *name, qint64 value)
{
    key(name);
    m_body.append(QByteArray::number(value));
    return *this;
}

JsonLine &JsonLine::addRaw(const char *name, const QByteArray &json)
{
    key(name);
    m_body.append(json);
    return *this;
}

JsonLine &JsonLine::addMs(const char *name, qint64 us)
{
    key(name);
    m_body.append(milliseconds(us));
    return *this;
}

QByteArray JsonLine::milliseconds(qint64 us)
{
    const qint64 magnitude = us < 0 ? -us : us;
    QByteArray text = us < 0 ? QByteArray("-") : QByteArray();
    text += QByteArray::number(magnitude / 1000);
    text += '.';
    text += QByteArray::number(magnitude % 1000).rightJustified(3, '0');
    return text;
}

QByteArray JsonLine::finish() const
{
    QByteArray out = m_body.isEmpty() ? QByteArray("{") : m_body;
    out.append("}\n");
    return out;
}
