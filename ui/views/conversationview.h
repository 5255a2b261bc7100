#pragma once

#include "connectionrecord.h"
#include "conversationframer.h"

#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;

// A raw connection as the conversation it was: what each side sent, in
// the order it crossed, as blocks with their direction and time, framed
// the way the user picks (by read, by a delimiter, by a length prefix, in
// fixed sizes), shown as text or hex; the export writes what is shown.
// Follows a live connection as its kept bytes grow.
class ConversationView : public QWidget
{
    Q_OBJECT
public:
    explicit ConversationView(QWidget *parent = nullptr);

    void showConnection(const ConnectionRecord &record);
    void showNothing(const QString &why);
    quint64 shownId() const { return m_record.id; }

    // The framing as text (ConversationFramer::Framing::parse); false,
    // with the reason shown beside it, when it is not one.
    bool setFraming(const QString &spec);
    void setHex(bool hex);
    const QList<ConversationFramer::Message> &messages() const { return m_messages; }
    QString text() const;
    // Writes what the view shows; false with the reason.
    bool saveTo(const QString &path, QString *error) const;

private:
    void render();
    void saveAs();

    QComboBox *m_preset;
    QLineEdit *m_framingEdit;
    QComboBox *m_mode;
    QPushButton *m_save;
    QLabel *m_info;
    QPlainTextEdit *m_text;
    ConnectionRecord m_record;
    ConversationFramer::Framing m_framing;
    QList<ConversationFramer::Message> m_messages;
};
