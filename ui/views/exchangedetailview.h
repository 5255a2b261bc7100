#pragma once

#include "connectionrecord.h"
#include "httpexchange.h"
#include "ratehistory.h"

#include <QTabWidget>

class ConnectionLifeView;
class ConversationView;
class QComboBox;
class QLabel;
class QPlainTextEdit;

// What one exchange said, in five tabs: the heads (highlighted), their raw
// bytes in hex, the body (text, pretty JSON or hex, decoded when it was
// compressed), the timing, and its connection's TLS. For a raw connection, each direction's first
// bytes as text and as hex.
class ExchangeDetailView : public QTabWidget
{
    Q_OBJECT
public:
    enum Tab { HeadsTab, RawTab, BodyTab, TimingTab, TlsTab, LifeTab, ConversationTab };

    explicit ExchangeDetailView(QWidget *parent = nullptr);

    // note: a line above the heads (where a resent request came from).
    void showExchange(const HttpExchange &exchange, const QString &note = QString());
    void showRawConnection(const ConnectionRecord &record);
    void showNothing(const QString &why);
    // The connection the shown exchange or bytes belong to: its TLS tab,
    // and its life (the strip, its rate over time, where its time went).
    void showConnection(const ConnectionRecord &record, const RateHistory &history = RateHistory());
    // A newer record of the connection shown: its life moves on.
    void updateConnection(const ConnectionRecord &record, const RateHistory &history);
    ConnectionLifeView *lifeView() const { return m_life; }
    ConversationView *conversationView() const { return m_conversation; }

    // The text a tab shows now; what the tests read.
    QString tabText(Tab tab) const;

    static QString headsText(const HttpExchange &exchange);
    static QString timingText(const HttpExchange &exchange);

private:
    enum class Content { Nothing, Exchange, Raw };
    void renderBody();

    QPlainTextEdit *m_heads;
    QPlainTextEdit *m_raw;
    QPlainTextEdit *m_body;
    QPlainTextEdit *m_timing;
    QPlainTextEdit *m_tls;
    ConnectionLifeView *m_life;
    ConversationView *m_conversation;
    QComboBox *m_bodySide;
    QComboBox *m_bodyMode;
    QLabel *m_bodyInfo;
    Content m_content = Content::Nothing;
    HttpExchange m_exchange;
    ConnectionRecord m_record;
};
