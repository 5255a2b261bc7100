#pragma once

#include "captureexport.h"
#include "capturesnapshot.h"

#include <QJsonObject>

class QIODevice;

// A capture as HAR 1.2, for browser devtools and HAR viewers. One entry per
// HTTP exchange (decrypted ones too); connections that carried no HTTP, and
// CONNECT tunnels that were not opened, are listed under the log's
// "_proxymon" field instead, as entries cannot hold them.
//
// What HAR asks for and how it is met: sizes are integers from the wire
// (heads' bytes, bodies' bytes as framed, before decoding); timings are
// whole milliseconds, none negative but the optional ones (-1); "time" is
// their sum; connect covers the time from accepting the connection to its
// first request (so ssl, the client's handshake, lies within it) and is
// given on a connection's first exchange only. Bodies are decoded
// (Content-Encoding undone) and written as text when they are UTF-8 text,
// else base64; a body kept only in part says so in a comment and in
// "_proxymon", and the kept encoded bytes go in "_encodedBase64" so that
// reading the file back loses nothing HAR holds.
class HarWriter
{
public:
    // Written entry by entry: a HAR of 100,000 exchanges is never one JSON
    // tree in memory.
    static CaptureExport::Counts write(const CaptureSnapshot &snapshot, QIODevice *device,
                                       const CaptureExport::Progress &progress = {});

    static QJsonObject entry(const HttpExchange &exchange, const ConnectionRecord &record, bool firstOnConnection);
};
