#include "rawclientpanel.h"

#include "bytetext.h"
#include "displaytext.h"
#include "endpoint.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFontDatabase>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QVBoxLayout>

namespace {

struct Preset
{
    const char *name;
    const char *text; // with \n line ends; the line-end choice applies
};

// The networking lab's own requests, and a few more to try things with.
const Preset Presets[] = {
    {"(type your own)", ""},
    {"GET / with Host (the lab's request)", "GET / HTTP/1.1\nHost: www.google.com\n\n"},
    {"GET / with a header without a colon", "GET / HTTP/1.1\nwww.google.com\n\n"},
    {"HEAD / HTTP/1.0", "HEAD / HTTP/1.0\n\n"},
    {"Two pipelined GETs", "GET /a HTTP/1.1\nHost: localhost\n\nGET /b HTTP/1.1\nHost: localhost\n\n"},
    {"Hello, echo", "hello, echo\n"},
    // For HTTP proxy mode.
    {"Proxy: GET http://example.org/", "GET http://example.org/ HTTP/1.1\nHost: example.org\n\n"},
    {"Proxy: CONNECT example.org:443", "CONNECT example.org:443 HTTP/1.1\nHost: example.org:443\n\n"},
};

} // namespace

RawClientPanel::RawClientPanel(QWidget *parent)
    : QWidget(parent)
    , m_target(new QLineEdit(this))
    , m_connect(new QPushButton(tr("Connect"), this))
    , m_preset(new QComboBox(this))
    , m_lineEnd(new QComboBox(this))
    , m_hexInput(new QCheckBox(tr("Hex"), this))
    , m_input(new QPlainTextEdit(this))
    , m_send(new QPushButton(tr("Send"), this))
    , m_shutdown(new QPushButton(tr("Shut down write"), this))
    , m_reset(new QPushButton(tr("Reset"), this))
    , m_hexOutput(new QCheckBox(tr("Hex"), this))
    , m_output(new QPlainTextEdit(this))
    , m_status(new QLabel(this))
{
    m_target->setObjectName(QStringLiteral("rawTarget"));
    m_target->setPlaceholderText(tr("host:port (default: proxymon's own port)"));
    m_connect->setObjectName(QStringLiteral("rawConnect"));
    m_preset->setObjectName(QStringLiteral("rawPreset"));
    for (const Preset &preset : Presets)
        m_preset->addItem(tr(preset.name));
    m_lineEnd->setObjectName(QStringLiteral("rawLineEnd"));
    m_lineEnd->addItems({tr("CRLF"), tr("LF (bare)")});
    m_lineEnd->setToolTip(tr("Line ends for the text you send: HTTP wants CRLF; the lab's clients send bare LF"));
    m_hexInput->setObjectName(QStringLiteral("rawHexInput"));
    m_hexInput->setToolTip(tr("Send the input as hex bytes: 47 45 54 0d 0a"));
    m_input->setObjectName(QStringLiteral("rawInput"));
    m_input->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_input->setPlaceholderText(tr("Text to send; Ctrl+Return sends"));
    m_send->setObjectName(QStringLiteral("rawSend"));
    m_send->setShortcut(Qt::CTRL | Qt::Key_Return);
    m_shutdown->setObjectName(QStringLiteral("rawShutdown"));
    m_shutdown->setToolTip(tr("shutdown(SHUT_WR): tell the peer you are done sending, and keep reading until EOF"));
    m_reset->setObjectName(QStringLiteral("rawReset"));
    m_reset->setToolTip(tr("Abort the connection: the peer sees a reset"));
    m_hexOutput->setObjectName(QStringLiteral("rawHexOutput"));
    m_output->setObjectName(QStringLiteral("rawOutput"));
    m_output->setReadOnly(true);
    m_output->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_status->setObjectName(QStringLiteral("rawStatus"));
    m_status->setWordWrap(true);

    auto *layout = new QVBoxLayout(this);
    auto *top = new QHBoxLayout;
    top->addWidget(m_target, 1);
    top->addWidget(m_connect);
    layout->addLayout(top);
    auto *options = new QHBoxLayout;
    options->addWidget(m_preset, 1);
    options->addWidget(m_lineEnd);
    options->addWidget(m_hexInput);
    layout->addLayout(options);
    layout->addWidget(m_input, 1);
    auto *actions = new QHBoxLayout;
    actions->addWidget(m_send);
    actions->addWidget(m_shutdown);
    actions->addWidget(m_reset);
    actions->addStretch();
    actions->addWidget(m_hexOutput);
    layout->addLayout(actions);
    layout->addWidget(new QLabel(tr("Received:"), this));
    layout->addWidget(m_output, 2);
    layout->addWidget(m_status);

    connect(m_connect, &QPushButton::clicked, this, &RawClientPanel::connectOrClose);
    connect(m_target, &QLineEdit::returnPressed, this, &RawClientPanel::connectOrClose);
    connect(m_send, &QPushButton::clicked, this, &RawClientPanel::sendInput);
    connect(m_shutdown, &QPushButton::clicked, &m_client, &RawClient::shutdownWrite);
    connect(m_reset, &QPushButton::clicked, &m_client, &RawClient::reset);
    connect(m_hexOutput, &QCheckBox::toggled, this, &RawClientPanel::renderReceived);
    connect(m_preset, &QComboBox::currentIndexChanged, this, &RawClientPanel::applyPreset);
    connect(&m_client, &RawClient::stateChanged, this, &RawClientPanel::onStateChanged);
    connect(&m_client, &RawClient::received, this, &RawClientPanel::onReceived);
    m_renderDelay.setSingleShot(true);
    m_renderDelay.setInterval(100);
    connect(&m_renderDelay, &QTimer::timeout, this, &RawClientPanel::renderReceived);
    onStateChanged(RawClient::State::Idle);
}

void RawClientPanel::setDefaultTarget(const QString &target)
{
    // Follows the proxy until the user types a target of their own.
    if (m_target->text().isEmpty() || m_target->text() == m_defaultTarget)
        m_target->setText(target);
    m_defaultTarget = target;
}

QString RawClientPanel::receivedText() const
{
    return m_output->toPlainText();
}

QString RawClientPanel::statusText() const
{
    return m_status->text();
}

bool RawClientPanel::parseHex(const QString &text, QByteArray *bytes)
{
    QString digits = text;
    digits.remove(QRegularExpression(QStringLiteral("\\s")));
    if (digits.size() % 2 != 0)
        return false;
    for (const QChar c : digits) {
        if (!c.isDigit() && !(c.toLower() >= u'a' && c.toLower() <= u'f'))
            return false;
    }
    *bytes = QByteArray::fromHex(digits.toLatin1());
    return true;
}

void RawClientPanel::connectOrClose()
{
    const RawClient::State state = m_client.state();
    if (state != RawClient::State::Idle && state != RawClient::State::Closed) {
        m_client.close();
        return;
    }
    Endpoint endpoint;
    QString error;
    const QString text = m_target->text().trimmed().isEmpty() ? m_defaultTarget : m_target->text().trimmed();
    if (!Endpoint::parse(text, &endpoint, &error) || endpoint.port == 0) {
        m_status->setText(tr("Target: %1").arg(error.isEmpty() ? tr("a port is needed") : error));
        return;
    }
    m_received.clear();
    renderReceived();
    m_client.connectTo(endpoint.host, endpoint.port);
}

void RawClientPanel::sendInput()
{
    QByteArray bytes;
    if (m_hexInput->isChecked()) {
        if (!parseHex(m_input->toPlainText(), &bytes)) {
            m_status->setText(tr("The input is not hex bytes (like 47 45 54 0d 0a)"));
            return;
        }
    } else {
        bytes = m_input->toPlainText().toUtf8();
        if (m_lineEnd->currentIndex() == 0)
            bytes.replace("\n", "\r\n");
    }
    m_client.send(bytes);
    onStateChanged(m_client.state());
}

void RawClientPanel::applyPreset(int index)
{
    if (index <= 0 || index >= int(std::size(Presets)))
        return;
    m_hexInput->setChecked(false);
    m_input->setPlainText(QString::fromLatin1(Presets[index].text));
}

void RawClientPanel::onStateChanged(RawClient::State state)
{
    const bool live = state != RawClient::State::Idle && state != RawClient::State::Closed;
    const bool canSend = state == RawClient::State::Open || state == RawClient::State::PeerShut
        || state == RawClient::State::Connecting;
    m_connect->setText(live ? tr("Close") : tr("Connect"));
    m_target->setEnabled(!live);
    m_send->setEnabled(canSend);
    m_shutdown->setEnabled(canSend);
    m_reset->setEnabled(live);
    QString text = RawClient::stateText(state);
    if (state == RawClient::State::Closed && !m_client.why().isEmpty())
        text = tr("closed: %1").arg(m_client.why());
    m_status->setText(tr("%1 · sent %2, received %3")
                          .arg(text, DisplayText::bytes(m_client.bytesSent()), DisplayText::bytes(m_client.bytesReceived())));
}

void RawClientPanel::onReceived(const QByteArray &bytes)
{
    // The view shows the first 1 MiB; the counts keep going.
    constexpr qsizetype Shown = 1024 * 1024;
    if (m_received.size() < Shown)
        m_received.append(bytes.first(qMin(bytes.size(), Shown - m_received.size())));
    if (!m_renderDelay.isActive())
        m_renderDelay.start();
    onStateChanged(m_client.state());
}

void RawClientPanel::renderReceived()
{
    m_renderDelay.stop();
    m_output->setPlainText(m_hexOutput->isChecked() ? ByteText::hexDump(m_received) : ByteText::readable(m_received));
    m_output->moveCursor(QTextCursor::End);
}
