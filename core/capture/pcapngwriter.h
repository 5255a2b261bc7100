#pragma once

#include "captureexport.h"
#include "capturesnapshot.h"

class QIODevice;

// Connections as a pcapng file for Wireshark and tshark. No packets were
// captured: TCP is synthesized around the bytes proxymon recorded, and the
// section's comment says so. Two interfaces, the client legs
// (client ↔ proxymon, at the address the client reached) and the upstream
// legs (proxymon ↔ upstream, from the address proxymon connected from),
// raw IPv4/IPv6 with nanosecond timestamps. Each leg gets a handshake, its
// bytes each way in the order and at the times they crossed (heads as
// sent, chunked bodies with their framing), bytes not kept as a jump in
// the sequence numbers (Wireshark: "previous segment not captured"), and
// the FIN or RST from the side that sent it first, as the record says.
//
// What the record cannot give is said in a packet comment: decrypted TLS
// legs carry the plaintext; an HTTP proxy's upstream leg is left out, since
// proxymon rewrites the heads it forwards there; a raw connection's first
// bytes each way are placed client first.
class PcapngWriter
{
public:
    static CaptureExport::Counts write(const CaptureSnapshot &snapshot, QIODevice *device,
                                       const CaptureExport::Progress &progress = {});

    // The initial sequence number of each side of a leg: fixed per
    // connection, so that a test can predict the numbers.
    static quint32 initialSequence(quint64 connectionId, bool upstreamLeg, bool fromInitiator);
};
