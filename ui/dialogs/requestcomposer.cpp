#include "requestcomposer.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFile>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

namespace {

enum BodyMode { TextMode, HexMode };

bool isText(const QByteArray &bytes)
{
    return QString::fromUtf8(bytes).toUtf8() == bytes && !bytes.contains('\0');
}

} // namespace

RequestComposer::RequestComposer(const ReplayRequest &request, const QString &where, bool forwarding, QWidget *parent)
    : QDialog(parent)
    , m_original(request)
{
    setWindowTitle(tr("Edit and resend"));
    setObjectName(QStringLiteral("requestComposer"));
    m_method = new QComboBox(this);
    m_method->setObjectName(QStringLiteral("composerMethod"));
    m_method->setEditable(true);
    m_method->addItems({QStringLiteral("GET"), QStringLiteral("POST"), QStringLiteral("PUT"), QStringLiteral("PATCH"),
                        QStringLiteral("DELETE"), QStringLiteral("HEAD"), QStringLiteral("OPTIONS")});
    m_method->setCurrentText(QString::fromUtf8(request.method));
    m_url = new QLineEdit(QString::fromUtf8(request.url), this);
    m_url->setObjectName(QStringLiteral("composerUrl"));
    m_version = new QComboBox(this);
    m_version->setObjectName(QStringLiteral("composerVersion"));
    m_version->setEditable(true);
    m_version->addItems({QStringLiteral("HTTP/1.1"), QStringLiteral("HTTP/1.0")});
    m_version->setCurrentText(QString::fromUtf8(request.version));
    m_tls = new QCheckBox(tr("Speak TLS to proxymon (as the client did; proxymon decrypts it)"), this);
    m_tls->setChecked(request.tlsToListener);
    m_tls->setVisible(forwarding);

    m_headers = new QTableWidget(0, 2, this);
    m_headers->setObjectName(QStringLiteral("composerHeaders"));
    m_headers->setHorizontalHeaderLabels({tr("Name"), tr("Value")});
    m_headers->horizontalHeader()->setStretchLastSection(true);
    m_headers->verticalHeader()->hide();
    for (const auto &[name, value] : request.headers)
        addHeaderRow(name, value);
    auto *addHeader = new QPushButton(tr("Add header"), this);
    auto *removeHeader = new QPushButton(tr("Remove header"), this);
    connect(addHeader, &QPushButton::clicked, this, [this] {
        addHeaderRow({}, {});
        m_headers->editItem(m_headers->item(m_headers->rowCount() - 1, 0));
    });
    connect(removeHeader, &QPushButton::clicked, this, [this] {
        if (m_headers->currentRow() >= 0)
            m_headers->removeRow(m_headers->currentRow());
    });

    m_bodyMode = new QComboBox(this);
    m_bodyMode->setObjectName(QStringLiteral("composerBodyMode"));
    m_bodyMode->addItems({tr("Text"), tr("Hex")});
    m_body = new QPlainTextEdit(this);
    m_body->setObjectName(QStringLiteral("composerBody"));
    QFont fixed = m_body->font();
    fixed.setFamily(QStringLiteral("monospace"));
    fixed.setStyleHint(QFont::Monospace);
    m_body->setFont(fixed);
    auto *fromFile = new QPushButton(tr("Body from file…"), this);
    connect(fromFile, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Body from file"));
        if (path.isEmpty())
            return;
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly)) {
            m_problem->setText(tr("Cannot read %1: %2").arg(path, file.errorString()));
            return;
        }
        setBody(file.readAll());
    });
    // proxymon frames the body itself (Content-Length of its size, or one
    // chunk): a request it writes never lies about where it ends.
    auto *framing = new QLabel(tr("Framed by proxymon: Content-Length is the body's size, or one chunk"), this);

    m_problem = new QLabel(this);
    m_problem->setObjectName(QStringLiteral("composerProblem"));
    m_problem->setWordWrap(true);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, this);
    m_send = buttons->addButton(tr("Send"), QDialogButtonBox::AcceptRole);
    m_send->setObjectName(QStringLiteral("composerSend"));
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_send, &QPushButton::clicked, this, [this] {
        QString error;
        const ReplayRequest edited = this->request(&error);
        if (!error.isEmpty()) {
            m_problem->setText(error);
            return;
        }
        emit sendRequested(edited);
        accept();
    });

    auto *form = new QFormLayout;
    auto *line = new QHBoxLayout;
    line->addWidget(m_method);
    line->addWidget(m_url, 1);
    line->addWidget(m_version);
    form->addRow(tr("Request"), line);
    auto *whereLabel = new QLabel(where, this);
    whereLabel->setWordWrap(true);
    form->addRow(tr("Through"), whereLabel);
    form->addRow(QString(), m_tls);
    auto *headerButtons = new QHBoxLayout;
    headerButtons->addWidget(addHeader);
    headerButtons->addWidget(removeHeader);
    headerButtons->addStretch();
    auto *bodyBar = new QHBoxLayout;
    bodyBar->addWidget(new QLabel(tr("Body as"), this));
    bodyBar->addWidget(m_bodyMode);
    bodyBar->addWidget(fromFile);
    bodyBar->addStretch();
    bodyBar->addWidget(framing);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(new QLabel(tr("Headers, in the order they are sent"), this));
    layout->addWidget(m_headers, 2);
    layout->addLayout(headerButtons);
    layout->addLayout(bodyBar);
    layout->addWidget(m_body, 2);
    layout->addWidget(m_problem);
    layout->addWidget(buttons);
    resize(760, 620);

    m_bodyMode->setCurrentIndex(isText(request.body) ? TextMode : HexMode);
    m_shownMode = m_bodyMode->currentIndex();
    setBody(request.body);
    connect(m_bodyMode, &QComboBox::currentIndexChanged, this, [this](int mode) {
        // Convert what is there now to the other form.
        bool ok = false;
        m_bodyMode->blockSignals(true);
        m_bodyMode->setCurrentIndex(m_shownMode);
        const QByteArray bytes = bodyBytes(&ok);
        m_bodyMode->setCurrentIndex(mode);
        m_bodyMode->blockSignals(false);
        if (!ok) {
            m_bodyMode->setCurrentIndex(m_shownMode);
            return;
        }
        m_shownMode = mode;
        setBody(bytes);
    });
    connect(m_body, &QPlainTextEdit::textChanged, this, &RequestComposer::check);
    connect(m_url, &QLineEdit::textChanged, this, &RequestComposer::check);
}

void RequestComposer::addHeaderRow(const QByteArray &name, const QByteArray &value)
{
    const int row = m_headers->rowCount();
    m_headers->insertRow(row);
    m_headers->setItem(row, 0, new QTableWidgetItem(QString::fromUtf8(name)));
    m_headers->setItem(row, 1, new QTableWidgetItem(QString::fromUtf8(value)));
}

void RequestComposer::setBody(const QByteArray &body)
{
    if (m_bodyMode->currentIndex() == TextMode && !isText(body)) {
        m_bodyMode->blockSignals(true);
        m_bodyMode->setCurrentIndex(HexMode);
        m_bodyMode->blockSignals(false);
        m_shownMode = HexMode;
    }
    if (m_bodyMode->currentIndex() == TextMode) {
        m_body->setPlainText(QString::fromUtf8(body));
    } else {
        // Sixteen bytes a line, so it can be read and edited.
        QString hex;
        for (qsizetype at = 0; at < body.size(); at += 16)
            hex += QString::fromLatin1(body.mid(at, 16).toHex(' ')) + QLatin1Char('\n');
        m_body->setPlainText(hex);
    }
    check();
}

QByteArray RequestComposer::bodyBytes(bool *ok) const
{
    *ok = true;
    const QString text = m_body->toPlainText();
    if (m_bodyMode->currentIndex() == TextMode)
        return text.toUtf8();
    QByteArray digits;
    for (const QChar c : text) {
        if (c.isSpace())
            continue;
        if (!isxdigit(c.toLatin1())) {
            *ok = false;
            return {};
        }
        digits.append(c.toLatin1());
    }
    if (digits.size() % 2) {
        *ok = false;
        return {};
    }
    return QByteArray::fromHex(digits);
}

void RequestComposer::check()
{
    QString error;
    request(&error);
    m_problem->setText(error);
    m_send->setEnabled(error.isEmpty());
}

ReplayRequest RequestComposer::request(QString *error) const
{
    ReplayRequest request = m_original;
    request.method = m_method->currentText().trimmed().toUtf8();
    request.url = m_url->text().trimmed().toUtf8();
    request.version = m_version->currentText().trimmed().toUtf8();
    request.tlsToListener = m_tls->isChecked();
    request.headers.clear();
    for (int row = 0; row < m_headers->rowCount(); ++row) {
        const QByteArray name = m_headers->item(row, 0) ? m_headers->item(row, 0)->text().trimmed().toUtf8() : QByteArray();
        const QByteArray value = m_headers->item(row, 1) ? m_headers->item(row, 1)->text().toUtf8() : QByteArray();
        if (!name.isEmpty())
            request.headers.append({name, value});
    }
    bool ok = false;
    request.body = bodyBytes(&ok);
    QString problem;
    if (!ok)
        problem = tr("The body's hex does not read: pairs of 0-9 and a-f, spaces anywhere");
    else if (request.method.isEmpty() || request.method.contains(' '))
        problem = tr("The method must be one word");
    else if (!request.url.startsWith("http://") && !request.url.startsWith("https://") && !request.url.startsWith('/'))
        problem = tr("The URL must start with http://, https:// or /");
    else
        problem = request.problem();
    if (error)
        *error = problem;
    return request;
}
