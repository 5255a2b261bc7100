#include "headhighlighter.h"

#include <QRegularExpression>

HeadHighlighter::HeadHighlighter(QTextDocument *document)
    : QSyntaxHighlighter(document)
{
    m_startLine.setFontWeight(QFont::Bold);
    m_name.setForeground(QColor(0x1f, 0x5f, 0xa8));
    m_name.setFontWeight(QFont::DemiBold);
    m_escape.setForeground(QColor(0xa0, 0x50, 0x00));
    m_note.setForeground(QColor(0x70, 0x70, 0x70));
    m_note.setFontItalic(true);
}

void HeadHighlighter::highlightBlock(const QString &text)
{
    static const QRegularExpression startLine(QStringLiteral("^([A-Z-]+ \\S+ HTTP/\\d|HTTP/\\d)"));
    static const QRegularExpression escape(QStringLiteral("\\\\x[0-9a-f]{2}"));
    if (text.startsWith(QLatin1String("# "))) {
        setFormat(0, int(text.size()), m_note);
        return;
    }
    if (startLine.match(text).hasMatch()) {
        setFormat(0, int(text.size()), m_startLine);
    } else {
        const qsizetype colon = text.indexOf(u':');
        if (colon > 0)
            setFormat(0, int(colon + 1), m_name);
    }
    for (auto it = escape.globalMatch(text); it.hasNext();) {
        const QRegularExpressionMatch match = it.next();
        setFormat(int(match.capturedStart()), int(match.capturedLength()), m_escape);
    }
}
