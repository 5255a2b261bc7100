#include "exchangedetailview.h"

#include "tlsdetailstext.h"

#include "bytetext.h"
#include "connectionlifeview.h"
#include "conversationview.h"
#include "contentdecoder.h"
#include "displaytext.h"
#include "exchangetablemodel.h"
#include "headhighlighter.h"
#include "lifesummary.h"
#include "timebreakdown.h"

#include <QComboBox>
#include <QDateTime>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QLabel>
#include <QPlainTextEdit>
#include <QVBoxLayout>

namespace {

QPlainTextEdit *monospaceView(QWidget *parent)
{
    auto *view = new QPlainTextEdit(parent);
    view->setReadOnly(true);
    view->setLineWrapMode(QPlainTextEdit::NoWrap);
    view->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    return view;
}

QString headText(const HttpHead &head)
{
    return ByteText::readable(head.raw).trimmed();
}

// Whether bytes look like text worth showing as such.
bool looksTextual(QByteArrayView bytes)
{
    const QByteArrayView sample = bytes.first(qMin<qsizetype>(bytes.size(), 4096));
    qsizetype odd = 0;
    for (qsizetype i = 0; i < sample.size();) {
        const unsigned char c = static_cast<unsigned char>(sample[i]);
        if (c == 0)
            return false;
        const qsizetype length = ByteText::utf8Length(sample, i);
        if (length == 0 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t'))
            ++odd;
        i += qMax<qsizetype>(1, length);
    }
    return odd * 20 < sample.size() + 1;
}

} // namespace

ExchangeDetailView::ExchangeDetailView(QWidget *parent)
    : QTabWidget(parent)
    , m_heads(monospaceView(this))
    , m_raw(monospaceView(this))
    , m_body(monospaceView(this))
    , m_timing(monospaceView(this))
    , m_tls(monospaceView(this))
    , m_life(new ConnectionLifeView(this))
    , m_conversation(new ConversationView(this))
    , m_bodySide(new QComboBox(this))
    , m_bodyMode(new QComboBox(this))
    , m_bodyInfo(new QLabel(this))
{
    new HeadHighlighter(m_heads->document());
    m_bodySide->addItems({tr("Response body"), tr("Request body")});
    m_bodyMode->addItems({tr("Auto"), tr("Text"), tr("JSON"), tr("Hex")});
    m_bodyMode->setToolTip(tr("How to show the body"));
    m_bodyInfo->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto *bodyPage = new QWidget(this);
    auto *bodyLayout = new QVBoxLayout(bodyPage);
    bodyLayout->setContentsMargins(0, 4, 0, 0);
    auto *bodyBar = new QHBoxLayout;
    bodyBar->addWidget(m_bodySide);
    bodyBar->addWidget(m_bodyMode);
    bodyBar->addWidget(m_bodyInfo, 1);
    bodyLayout->addLayout(bodyBar);
    bodyLayout->addWidget(m_body);

    addTab(m_heads, tr("Heads"));
    addTab(m_raw, tr("Raw"));
    addTab(bodyPage, tr("Body"));
    addTab(m_timing, tr("Timing"));
    addTab(m_tls, tr("TLS"));
    addTab(m_life, tr("Life"));
    addTab(m_conversation, tr("Conversation"));
    connect(m_bodySide, &QComboBox::currentIndexChanged, this, &ExchangeDetailView::renderBody);
    connect(m_bodyMode, &QComboBox::currentIndexChanged, this, &ExchangeDetailView::renderBody);
    showNothing(tr("Select a connection or an exchange."));
}

QString ExchangeDetailView::tabText(Tab tab) const
{
    switch (tab) {
    case HeadsTab: return m_heads->toPlainText();
    case RawTab: return m_raw->toPlainText();
    case BodyTab: return m_bodyInfo->text() + QLatin1Char('\n') + m_body->toPlainText();
    case TimingTab: return m_timing->toPlainText();
    case TlsTab: return m_tls->toPlainText();
    case LifeTab: return m_life->text();
    case ConversationTab: return m_conversation->text();
    }
    return QString();
}

QString ExchangeDetailView::headsText(const HttpExchange &exchange)
{
    QStringList parts;
    if (exchange.request.isEmpty())
        parts.append(tr("# no request: the server spoke first"));
    else
        parts.append(headText(exchange.request));
    for (const HttpHead &interim : exchange.interim)
        parts.append(headText(interim));
    if (exchange.hasResponse())
        parts.append(headText(exchange.response));
    else
        parts.append(exchange.complete ? QString() : tr("# no response (yet)"));
    if (exchange.flags)
        parts.append(tr("# %1").arg(ExchangeTableModel::flagText(exchange.flags)));
    if (exchange.tunnel)
        parts.append(tr("# a tunnel follows: its bytes are not decoded"));
    return parts.join(QStringLiteral("\n\n"));
}

QString ExchangeDetailView::timingText(const HttpExchange &exchange)
{
    const qint64 start = exchange.requestStartMs;
    QStringList lines;
    const auto line = [&](const QString &what, qint64 at) {
        if (!at) {
            lines.append(QStringLiteral("%1  —").arg(what, -24));
            return;
        }
        lines.append(QStringLiteral("%1  %2   +%3")
                         .arg(what, -24)
                         .arg(DisplayText::clockTime(at))
                         .arg(DisplayText::duration(qMax<qint64>(0, at - start))));
    };
    line(tr("Request started"), exchange.requestStartMs);
    line(tr("Request sent"), exchange.requestCompleteMs);
    line(tr("First response byte"), exchange.responseStartMs);
    line(tr("Response complete"), exchange.responseCompleteMs);
    lines.append(QString());
    if (exchange.requestCompleteMs && exchange.responseStartMs)
        lines.append(tr("Waiting for the server: %1")
                         .arg(DisplayText::duration(qMax<qint64>(0, exchange.responseStartMs - exchange.requestCompleteMs))));
    if (exchange.responseStartMs && exchange.responseCompleteMs)
        lines.append(tr("Receiving the response: %1")
                         .arg(DisplayText::duration(qMax<qint64>(0, exchange.responseCompleteMs - exchange.responseStartMs))));
    lines.append(tr("Total: %1").arg(DisplayText::duration(ExchangeTableModel::elapsedMs(exchange))));
    return lines.join(QLatin1Char('\n'));
}

void ExchangeDetailView::showExchange(const HttpExchange &exchange, const QString &note)
{
    m_content = Content::Exchange;
    m_exchange = exchange;
    m_heads->setPlainText((note.isEmpty() ? QString() : QStringLiteral("# ") + note + QLatin1Char('\n'))
                          + headsText(exchange));
    QString raw = tr("# request head, %1 bytes\n").arg(exchange.request.raw.size())
        + ByteText::hexDump(exchange.request.raw);
    for (const HttpHead &interim : exchange.interim)
        raw += tr("\n# interim response head, %1 bytes\n").arg(interim.raw.size()) + ByteText::hexDump(interim.raw);
    if (exchange.hasResponse())
        raw += tr("\n# response head, %1 bytes\n").arg(exchange.response.raw.size())
            + ByteText::hexDump(exchange.response.raw);
    m_raw->setPlainText(raw);
    m_timing->setPlainText(timingText(exchange));
    m_bodySide->setEnabled(true);
    renderBody();
}

void ExchangeDetailView::showRawConnection(const ConnectionRecord &record)
{
    m_content = Content::Raw;
    m_record = record;
    m_heads->setPlainText(tr("# connection %1 is not HTTP: its first bytes each way are in Raw and Body")
                              .arg(record.id));
    m_raw->setPlainText(tr("# client → upstream, first %1\n").arg(DisplayText::bytes(quint64(record.clientPrefix.size())))
                        + ByteText::hexDump(record.clientPrefix)
                        + tr("\n# upstream → client, first %1\n").arg(DisplayText::bytes(quint64(record.upstreamPrefix.size())))
                        + ByteText::hexDump(record.upstreamPrefix));
    m_timing->setPlainText(QString());
    m_bodySide->setEnabled(true);
    renderBody();
    m_conversation->showConnection(record);
}

void ExchangeDetailView::showConnection(const ConnectionRecord &record, const RateHistory &history)
{
    m_tls->setPlainText(TlsDetailsText::describe(record));
    m_life->showConnection(record, history);
    if (m_content == Content::Exchange && m_exchange.connectionId == record.id) {
        // Beside the exchange's own moments: what its connection spent.
        QStringList lines{timingText(m_exchange), QString(), tr("On its connection (%1):").arg(record.id)};
        for (const TimeBreakdown::Part &part : TimeBreakdown::ofExchange(record, m_exchange))
            lines.append(QStringLiteral("  %1: %2").arg(part.label, LifeSummary::duration(part.us)));
        m_timing->setPlainText(lines.join(QLatin1Char('\n')));
    }
    if (!record.raw)
        m_conversation->showNothing(tr("Connection %1 speaks HTTP (or has said nothing yet): its exchanges are in the list.")
                                        .arg(record.id));
}

void ExchangeDetailView::updateConnection(const ConnectionRecord &record, const RateHistory &history)
{
    if (record.id != m_life->shownId())
        return;
    m_life->showConnection(record, history);
    // A raw connection's conversation grows with its kept bytes.
    if (record.raw && (m_conversation->shownId() == record.id || m_conversation->shownId() == 0))
        m_conversation->showConnection(record);
    // The TLS tab changes only while the handshakes finish.
    if (!record.clientTls().isEmpty() || !record.upstreamTls().isEmpty() || record.decryption != ConnectionRecord::Decryption::None)
        m_tls->setPlainText(TlsDetailsText::describe(record));
}

void ExchangeDetailView::showNothing(const QString &why)
{
    m_content = Content::Nothing;
    for (QPlainTextEdit *view : {m_heads, m_raw, m_body, m_timing, m_tls})
        view->setPlainText(tr("# %1").arg(why));
    m_bodyInfo->clear();
    m_bodySide->setEnabled(false);
}

void ExchangeDetailView::renderBody()
{
    if (m_content == Content::Nothing)
        return;
    const bool response = m_bodySide->currentIndex() == 0;
    QByteArray bytes;
    QString info;
    QByteArrayView contentType;
    if (m_content == Content::Raw) {
        bytes = response ? m_record.upstreamPrefix : m_record.clientPrefix;
        info = tr("%1 from the %2 (raw connection)")
                   .arg(DisplayText::bytes(quint64(bytes.size())), response ? tr("upstream") : tr("client"));
    } else {
        const HttpHead &head = response ? m_exchange.response : m_exchange.request;
        const QByteArray &kept = response ? m_exchange.responseBody : m_exchange.requestBody;
        const quint64 total = response ? m_exchange.responseBodyBytes : m_exchange.requestBodyBytes;
        contentType = head.value("Content-Type");
        const QByteArrayView encoding = head.value("Content-Encoding");
        info = total == quint64(kept.size())
            ? DisplayText::bytes(total)
            : tr("first %1 of %2").arg(DisplayText::bytes(quint64(kept.size())), DisplayText::bytes(total));
        if (!contentType.isEmpty())
            info += QStringLiteral(", ") + QString::fromLatin1(contentType);
        bytes = kept;
        if (!encoding.isEmpty() && !kept.isEmpty()) {
            const ContentDecoder::Result decoded = ContentDecoder::decode(kept, encoding);
            bytes = decoded.bytes;
            if (!decoded.error.isEmpty())
                info += tr(", %1").arg(decoded.error);
            else if (decoded.decoded)
                info += tr(", %1 decoded to %2%3")
                            .arg(QString::fromLatin1(encoding), DisplayText::bytes(quint64(decoded.bytes.size())),
                                 decoded.complete ? QString() : tr(" so far"));
        }
    }
    m_bodyInfo->setText(info);

    int mode = m_bodyMode->currentIndex();
    if (mode == 0) // Auto
        mode = contentType.contains("json") ? 2 : looksTextual(bytes) ? 1 : 3;
    if (bytes.isEmpty()) {
        m_body->setPlainText(tr("# no body"));
    } else if (mode == 2) {
        QJsonParseError error{};
        const QJsonDocument document = QJsonDocument::fromJson(bytes, &error);
        if (error.error == QJsonParseError::NoError)
            m_body->setPlainText(QString::fromUtf8(document.toJson(QJsonDocument::Indented)));
        else
            m_body->setPlainText(tr("# not valid JSON (%1 at byte %2); as text:\n")
                                     .arg(error.errorString())
                                     .arg(error.offset)
                                 + ByteText::readable(bytes));
    } else if (mode == 1) {
        m_body->setPlainText(ByteText::readable(bytes));
    } else {
        // A hex dump is four times the bytes: past a point the view would
        // take seconds to lay it out.
        constexpr qsizetype HexLimit = 256 * 1024;
        QString text = ByteText::hexDump(QByteArrayView(bytes).first(qMin(bytes.size(), HexLimit)));
        if (bytes.size() > HexLimit)
            text += tr("# the first %1 are shown in hex; Text shows them all").arg(DisplayText::bytes(HexLimit));
        m_body->setPlainText(text);
    }
}
