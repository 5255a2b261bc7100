#pragma once

#include <QSyntaxHighlighter>
#include <QTextCharFormat>

// Colours a head as people scan it: start lines bold, header names in the
// accent colour, the escapes that stand for odd bytes dimmed.
class HeadHighlighter : public QSyntaxHighlighter
{
    Q_OBJECT
public:
    explicit HeadHighlighter(QTextDocument *document);

protected:
    void highlightBlock(const QString &text) override;

private:
    QTextCharFormat m_startLine;
    QTextCharFormat m_name;
    QTextCharFormat m_escape;
    QTextCharFormat m_note;
};
