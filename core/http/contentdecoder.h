#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QString>

// Undoes the Content-Encoding of a captured body for display: gzip, deflate
// (zlib-wrapped, or raw as some servers send it), br, and chains of them
// ("gzip, br" is undone right to left). Works on the bounded prefix the
// capture keeps, so input that stops early is normal: what it decodes to so
// far is returned. Output is capped, which also defuses decompression bombs.
class ContentDecoder
{
public:
    struct Result
    {
        QByteArray bytes;     // the decoded bytes (the input when nothing was to be done)
        bool decoded = false; // a coding was undone
        bool complete = false; // the encoded stream ended properly within the input
        bool capped = false;  // output stopped at maxBytes
        QString error;        // unknown coding or corrupt data; bytes holds what came before
    };

    static Result decode(QByteArrayView body, QByteArrayView contentEncoding, qsizetype maxBytes = 16 * 1024 * 1024);

private:
    static Result inflate(QByteArrayView input, bool gzip, qsizetype maxBytes);
    static Result inflateWith(QByteArrayView input, int windowBits, qsizetype maxBytes);
    static Result brotli(QByteArrayView input, qsizetype maxBytes);
};
