#include "conversationview.h"

#include "displaytext.h"

#include <QComboBox>
#include <QFile>
#include <QFileDialog>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSaveFile>
#include <QScrollBar>
#include <QSyntaxHighlighter>
#include <QVBoxLayout>

namespace {

// The direction lines in the sides' colours, as the strip and the graphs
// use them.
class ConversationHighlighter : public QSyntaxHighlighter
{
public:
    using QSyntaxHighlighter::QSyntaxHighlighter;

protected:
    void highlightBlock(const QString &text) override
    {
        const bool client = text.startsWith(QStringLiteral("▶ client"));
        if (!client && !text.startsWith(QStringLiteral("◀ upstream")))
            return;
        QTextCharFormat format;
        format.setForeground(client ? QColor(200, 100, 20) : QColor(30, 100, 160));
        format.setFontWeight(QFont::Bold);
        setFormat(0, int(text.size()), format);
    }
};

struct Preset
{
    const char *label;
    const char *spec;
};

constexpr Preset Presets[] = {
    {"By read", "read"},
    {"Lines (\\n)", "line"},
    {"Lines (\\r\\n)", "crlf"},
    {"Delimiter…", "delimiter:\\0"},
    {"Length prefix, 1 byte", "length:1"},
    {"Length prefix, 2 bytes big-endian", "length:2be"},
    {"Length prefix, 2 bytes little-endian", "length:2le"},
    {"Length prefix, 4 bytes big-endian", "length:4be"},
    {"Length prefix, 4 bytes little-endian", "length:4le"},
    {"Fixed size…", "fixed:16"},
};

} // namespace

ConversationView::ConversationView(QWidget *parent)
    : QWidget(parent)
    , m_preset(new QComboBox(this))
    , m_framingEdit(new QLineEdit(this))
    , m_mode(new QComboBox(this))
    , m_save(new QPushButton(tr("Save…"), this))
    , m_info(new QLabel(this))
    , m_text(new QPlainTextEdit(this))
{
    m_preset->setObjectName(QStringLiteral("conversationPreset"));
    m_framingEdit->setObjectName(QStringLiteral("conversationFraming"));
    m_mode->setObjectName(QStringLiteral("conversationMode"));
    m_save->setObjectName(QStringLiteral("conversationSave"));
    m_text->setObjectName(QStringLiteral("conversationText"));
    for (const Preset &preset : Presets)
        m_preset->addItem(tr(preset.label), QString::fromLatin1(preset.spec));
    m_framingEdit->setText(QStringLiteral("read"));
    m_framingEdit->setToolTip(tr("read, line, crlf, delimiter:TEXT (\\r \\n \\t \\0 \\xNN), length:1|2|4 with be or le, fixed:N"));
    m_mode->addItems({tr("Text"), tr("Hex")});
    m_text->setReadOnly(true);
    m_text->setLineWrapMode(QPlainTextEdit::NoWrap);
    m_text->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    new ConversationHighlighter(m_text->document());

    auto *controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Frame"), this));
    controls->addWidget(m_preset);
    controls->addWidget(m_framingEdit, 1);
    controls->addWidget(m_mode);
    controls->addWidget(m_save);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addLayout(controls);
    layout->addWidget(m_info);
    layout->addWidget(m_text, 1);

    connect(m_preset, &QComboBox::activated, this, [this](int index) {
        m_framingEdit->setText(m_preset->itemData(index).toString());
        setFraming(m_framingEdit->text());
        if (m_framingEdit->text().startsWith(QLatin1String("delimiter:")) || m_framingEdit->text().startsWith(QLatin1String("fixed:"))) {
            // Their value is the user's to type.
            m_framingEdit->setFocus();
            m_framingEdit->setSelection(int(m_framingEdit->text().indexOf(QLatin1Char(':'))) + 1, 64);
        }
    });
    connect(m_framingEdit, &QLineEdit::textEdited, this, [this](const QString &text) { setFraming(text); });
    connect(m_mode, &QComboBox::currentIndexChanged, this, &ConversationView::render);
    connect(m_save, &QPushButton::clicked, this, &ConversationView::saveAs);
    showNothing(tr("Select a connection that is not HTTP to read its conversation."));
}

void ConversationView::showConnection(const ConnectionRecord &record)
{
    m_record = record;
    m_save->setEnabled(true);
    render();
}

void ConversationView::showNothing(const QString &why)
{
    m_record = ConnectionRecord();
    m_messages.clear();
    m_save->setEnabled(false);
    m_info->clear();
    m_text->setPlainText(QStringLiteral("# ") + why);
}

bool ConversationView::setFraming(const QString &spec)
{
    QString error;
    ConversationFramer::Framing framing;
    if (!ConversationFramer::Framing::parse(spec, &framing, &error)) {
        m_framingEdit->setStyleSheet(QStringLiteral("QLineEdit { border: 1px solid #b06000; }"));
        m_info->setText(error);
        return false;
    }
    if (m_framingEdit->text() != spec)
        m_framingEdit->setText(spec);
    m_framingEdit->setStyleSheet(QString());
    m_framing = framing;
    render();
    return true;
}

void ConversationView::setHex(bool hex)
{
    m_mode->setCurrentIndex(hex ? 1 : 0);
}

void ConversationView::render()
{
    if (m_record.id == 0)
        return;
    m_messages = ConversationFramer::frame(m_record, m_framing);
    int fromClient = 0;
    for (const ConversationFramer::Message &message : std::as_const(m_messages))
        fromClient += message.fromClient;
    QString info = tr("%1 messages (%2 from the client, %3 from the upstream), framed by %4; kept: %5 up, %6 down")
                       .arg(m_messages.size())
                       .arg(fromClient)
                       .arg(m_messages.size() - fromClient)
                       .arg(m_framing.describe(), DisplayText::bytes(quint64(m_record.clientPrefix.size())),
                            DisplayText::bytes(quint64(m_record.upstreamPrefix.size())));
    if (m_record.bytesUp > quint64(m_record.clientPrefix.size()) || m_record.bytesDown > quint64(m_record.upstreamPrefix.size()))
        info += tr(" of %1 up, %2 down (--raw-prefix bounds what is kept)")
                    .arg(DisplayText::bytes(m_record.bytesUp), DisplayText::bytes(m_record.bytesDown));
    if (m_record.rawReadsCut)
        info += tr("; read boundaries past %1 reads were not kept").arg(ConnectionRecord::MaxRawReads);
    m_info->setText(info);
    const int scroll = m_text->verticalScrollBar() ? m_text->verticalScrollBar()->value() : 0;
    m_text->setPlainText(ConversationFramer::render(m_messages, m_mode->currentIndex() == 1));
    m_text->verticalScrollBar()->setValue(scroll);
}

QString ConversationView::text() const
{
    return m_text->toPlainText();
}

bool ConversationView::saveTo(const QString &path, QString *error) const
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(text().toUtf8()) < 0 || !file.commit()) {
        if (error)
            *error = file.errorString();
        return false;
    }
    return true;
}

void ConversationView::saveAs()
{
    const QString path = QFileDialog::getSaveFileName(this, tr("Save the conversation"),
                                                      QStringLiteral("connection-%1.txt").arg(m_record.id));
    if (path.isEmpty())
        return;
    QString error;
    if (!saveTo(path, &error))
        QMessageBox::warning(this, tr("Save the conversation"), tr("Cannot write %1: %2").arg(path, error));
}
