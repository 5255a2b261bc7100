#include "capturetap.h"

#include "connectionrecord.h"
#include "worker.h"

CaptureTap::CaptureTap(Worker &worker, ConnectionRecord &record, const qint64 &originUs)
    : m_worker(worker)
    , m_record(record)
    , m_originUs(originUs)
{
}

CaptureTap::~CaptureTap() = default;

bool CaptureTap::watching(bool fromClient) const
{
    if (!m_conversation)
        return m_worker.config().capture && !m_finished;
    return fromClient ? m_conversation->wantsClientBytes() : m_conversation->wantsUpstreamBytes();
}

FlowObserver::Window CaptureTap::window(bool fromClient)
{
    Window window;
    if (!m_conversation)
        return window;
    const HttpConversation::BodyWindow body = m_conversation->bodyWindow(fromClient);
    window.ahead = body.ahead;
    window.room = body.room;
    window.roomBytes = body.roomBytes;
    return window;
}

FlowObserver::Verdict CaptureTap::seen(bool fromClient, const char *data, qsizetype size)
{
    if (!m_conversation) {
        const ProxyConfig &config = m_worker.config();
        HttpConversation::Limits limits;
        limits.head = config.headLimits();
        limits.bodyPrefixBytes = config.bodyPrefixBytes;
        limits.rawPrefixBytes = config.rawPrefixBytes;
        m_conversation = std::make_unique<HttpConversation>(m_record.id, limits, m_earlierExchanges, m_secure);
    }
    const QByteArrayView bytes(data, size);
    const qint64 now = m_worker.wallMs();
    const qsizetype keptBefore = (fromClient ? m_conversation->rawClientPrefix() : m_conversation->rawUpstreamPrefix()).size();
    if (fromClient)
        m_conversation->clientBytes(bytes, now);
    else
        m_conversation->upstreamBytes(bytes, now);
    noteRead(fromClient, keptBefore);
    collect();
    return Verdict::goOn(); // it records what passes, and stops nothing
}

void CaptureTap::ended(bool fromClient)
{
    if (!m_conversation)
        return;
    m_conversation->sourceEnded(fromClient, m_worker.wallMs());
    collect();
}

void CaptureTap::noteRead(bool fromClient, qsizetype keptBefore)
{
    const qsizetype kept = (fromClient ? m_conversation->rawClientPrefix() : m_conversation->rawUpstreamPrefix()).size();
    if (kept < keptBefore || (m_conversation->rawClientPrefix().isEmpty() && m_conversation->rawUpstreamPrefix().isEmpty())) {
        // HTTP after all: the prefixes went, and their reads go too.
        m_reads.clear();
        m_readsCut = false;
        return;
    }
    if (kept == keptBefore)
        return;
    if (m_reads.size() >= ConnectionRecord::MaxRawReads) {
        m_readsCut = true;
        return;
    }
    m_reads.append({m_worker.wakeUs() - m_originUs, qint32(kept - keptBefore), fromClient});
}

void CaptureTap::passed(bool fromClient, quint64 bytes)
{
    m_conversation->bodyPassed(fromClient, bytes, m_worker.wallMs());
    if (bytes > 0)
        collect();
}

void CaptureTap::collect()
{
    m_record.requests = quint32(m_conversation->requestCount());
    m_record.raw = m_conversation->isRaw();
    if (m_conversation->hasFinished())
        m_worker.exchangesFinished(*m_conversation);
}

void CaptureTap::addPrefixes(ConnectionRecord *record) const
{
    // Shared, not copied; the capture copies on its next append, at most
    // once per publish.
    if (m_conversation && m_conversation->isRaw()) {
        record->clientPrefix = m_conversation->rawClientPrefix();
        record->upstreamPrefix = m_conversation->rawUpstreamPrefix();
        record->rawReads = m_reads;
        record->rawReadsCut = m_readsCut;
    }
}

void CaptureTap::finish()
{
    m_finished = true;
    endConversation(true);
}

void CaptureTap::startSecure()
{
    m_secure = true;
    // The tunnel's bytes so far were a TLS handshake, not HTTP: the CONNECT
    // exchange goes out as it is and a new conversation reads the inside.
    endConversation(false);
    m_record.raw = false;
}

void CaptureTap::endConversation(bool keepPrefixes)
{
    if (!m_conversation)
        return;
    m_conversation->finish(m_worker.wallMs());
    collect();
    if (keepPrefixes)
        addPrefixes(&m_record);
    m_earlierExchanges = m_conversation->requestCount();
    m_conversation.reset();
}
