#pragma once

#include <QByteArrayView>
#include <QString>

// Captured bytes as people read them. Nothing is dropped or hidden: what
// is not printable text becomes a visible \xNN.
namespace ByteText {

// Length of the valid UTF-8 sequence that starts at data[i], or 0.
qsizetype utf8Length(QByteArrayView data, qsizetype i);

// Text with line breaks and tabs kept (CRLF reads as a line break), and
// control bytes, a CR on its own and invalid UTF-8 escaped as \xNN.
QString readable(QByteArrayView bytes);

// The classic view: offset, 16 bytes in hex, the same bytes as ASCII.
QString hexDump(QByteArrayView bytes);

} // namespace ByteText
