#include "jsonline.h"

QByteArray JsonLine::quoted(const QString &text)
{
    const QByteArray utf8 = text.toUtf8();
    QByteArray out;
    out.reserve(utf8.size() + 2);
    out.append('"');
    for (const char c : utf8) {
        switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                static const char hex[] = "0123456789abcdef";
                out.append("\\u00");
                out.append(hex[(c >> 4) & 0xf]);
                out.append(hex[c & 0xf]);
            } else {
                out.append(c);
            }
        }
    }
    out.append('"');
    return out;
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

QByteArray JsonLine::finish() const
{
    QByteArray out = m_body.isEmpty() ? QByteArray("{") : m_body;
    out.append("}\n");
    return out;
}
