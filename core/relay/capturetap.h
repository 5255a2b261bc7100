#pragma once

#include "connectionrecord.h"
#include "flowobserver.h"
#include "httpconversation.h"

#include <memory>

class Worker;

// The HTTP capture's view of one connection's flows: hands what passes to
// an HttpConversation (made on the first bytes, so that idle connections
// carry none), lets bodies past the kept prefix go by uncopied, and passes
// the conversation's news to the record and the worker.
class CaptureTap final : public FlowObserver
{
public:
    // originUs: the connection's monotonic start, which read times count from.
    CaptureTap(Worker &worker, ConnectionRecord &record, const qint64 &originUs);
    ~CaptureTap() override;

    bool watching(bool fromClient) const override;
    Window window(bool fromClient) override;
    Verdict seen(bool fromClient, const char *data, qsizetype size) override;
    void passed(bool fromClient, quint64 bytes) override;
    // A body that runs to its direction's end is whole at the FIN, not at
    // the connection's end.
    void ended(bool fromClient) override;

    // A live record's view of the raw prefixes, shared, not copied.
    void addPrefixes(ConnectionRecord *record) const;
    // The connection ended: its last exchanges go out, and the raw
    // prefixes into the record.
    void finish();
    // From now on the flows carry what was inside TLS (decrypted, or
    // spoken to the upstream): the exchanges are https ones, and those
    // of a CONNECT before them stay as they were.
    void startSecure();

private:
    void collect();
    // A read that added to a raw prefix, for the conversation view.
    void noteRead(bool fromClient, qsizetype keptBefore);
    // Hands out the conversation's last exchanges and lets it go; with
    // keepPrefixes, its raw prefixes stay in the record.
    void endConversation(bool keepPrefixes);

    Worker &m_worker;
    ConnectionRecord &m_record;
    const qint64 &m_originUs;
    QList<RawRead> m_reads;
    bool m_readsCut = false;
    std::unique_ptr<HttpConversation> m_conversation;
    int m_earlierExchanges = 0;
    bool m_secure = false;
    bool m_finished = false;
};
