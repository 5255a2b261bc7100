#include "proxycontrols.h"

#include "proxyconfig.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSettings>

namespace {

constexpr int RecentTargets = 10;

} // namespace

ProxyControls::ProxyControls(QWidget *parent)
    : QWidget(parent)
    , m_listenEdit(new QLineEdit(this))
    , m_modeCombo(new QComboBox(this))
    , m_targetLabel(new QLabel(tr("  Target "), this))
    , m_targetCombo(new QComboBox(this))
    , m_allowLabel(new QLabel(tr("  Allow "), this))
    , m_allowEdit(new QLineEdit(this))
    , m_problem(new QLabel(this))
{
    m_listenEdit->setObjectName(QStringLiteral("listenEdit"));
    m_listenEdit->setPlaceholderText(tr("127.0.0.1:8080"));
    m_listenEdit->setToolTip(tr("Address and port proxymon listens on; clients connect here"));
    m_listenEdit->setMinimumWidth(150);
    m_listenEdit->setMaximumWidth(180);

    m_modeCombo->setObjectName(QStringLiteral("modeCombo"));
    m_modeCombo->addItem(tr("Forward to target"), int(ProxyConfig::Mode::Forward));
    m_modeCombo->addItem(tr("HTTP proxy"), int(ProxyConfig::Mode::HttpProxy));
    m_modeCombo->setToolTip(tr("Forward to target: every connection goes to one server.\n"
                               "HTTP proxy: set proxymon as the client's proxy (curl -x, http_proxy=, a "
                               "browser's proxy setting); each request names its host, CONNECT opens tunnels."));

    m_targetCombo->setObjectName(QStringLiteral("targetCombo"));
    m_targetCombo->setEditable(true);
    m_targetCombo->setInsertPolicy(QComboBox::NoInsert);
    m_targetCombo->setMinimumWidth(180);
    m_targetCombo->lineEdit()->setPlaceholderText(tr("host:port of the real server"));
    m_targetCombo->setToolTip(tr("Where proxymon forwards each connection; tls:HOST:PORT speaks TLS to it "
                                 "while clients speak plain TCP. Recent targets are in the list."));

    m_allowEdit->setObjectName(QStringLiteral("allowEdit"));
    m_allowEdit->setPlaceholderText(tr("clients, e.g. 192.168.1.0/24"));
    m_allowEdit->setToolTip(tr("Only these clients may connect (addresses or ADDR/PREFIX, comma-separated). "
                               "Required for an HTTP proxy that other machines can reach."));
    m_allowEdit->setMaximumWidth(200);

    m_problem->setObjectName(QStringLiteral("inputProblem"));
    m_problem->setStyleSheet(QStringLiteral("QLabel { color: #b3261e; padding-left: 6px; }"));

    // As wide as its fields and message, like the toolbar's other items.
    setSizePolicy(QSizePolicy::Maximum, QSizePolicy::Preferred);
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    layout->addWidget(new QLabel(tr(" Listen "), this));
    layout->addWidget(m_listenEdit);
    layout->addSpacing(8);
    layout->addWidget(m_modeCombo);
    layout->addWidget(m_targetLabel);
    layout->addWidget(m_targetCombo);
    layout->addWidget(m_allowLabel);
    layout->addWidget(m_allowEdit);
    layout->addWidget(m_problem);

    connect(m_listenEdit, &QLineEdit::textChanged, this, &ProxyControls::validate);
    connect(m_targetCombo, &QComboBox::editTextChanged, this, &ProxyControls::validate);
    connect(m_modeCombo, &QComboBox::currentIndexChanged, this, &ProxyControls::validate);
    connect(m_allowEdit, &QLineEdit::textChanged, this, &ProxyControls::validate);
    connect(m_allowEdit, &QLineEdit::returnPressed, this, &ProxyControls::startRequested);
    connect(m_listenEdit, &QLineEdit::returnPressed, this, &ProxyControls::startRequested);
    connect(m_targetCombo->lineEdit(), &QLineEdit::returnPressed, this, &ProxyControls::startRequested);
    validate();
}

ProxyConfig::Mode ProxyControls::mode() const
{
    return ProxyConfig::Mode(m_modeCombo->currentData().toInt());
}

void ProxyControls::setMode(ProxyConfig::Mode mode)
{
    m_modeCombo->setCurrentIndex(m_modeCombo->findData(int(mode)));
}

void ProxyControls::setListenText(const QString &text)
{
    m_listenEdit->setText(text);
}

void ProxyControls::setTargetText(const QString &text)
{
    m_targetCombo->setEditText(text);
}

void ProxyControls::setAllowText(const QString &text)
{
    m_allowEdit->setText(text);
}

QString ProxyControls::problems() const
{
    return m_problem->text();
}

void ProxyControls::validate()
{
    ProxyConfig scratch;
    scratch.mode = mode();
    const bool proxyMode = scratch.mode == ProxyConfig::Mode::HttpProxy;
    QString listenError;
    QString targetError;
    QString allowError;
    const bool listenOk = scratch.setListen(m_listenEdit->text().trimmed(), &listenError);
    const bool targetOk = proxyMode || scratch.setTarget(m_targetCombo->currentText().trimmed(), &targetError);
    bool allowOk = scratch.setAllowedClients(m_allowEdit->text(), &allowError);
    const bool remote = listenOk && !scratch.listensOnLoopbackOnly();
    // The target means nothing to an HTTP proxy; the allow-list only
    // matters once other machines can connect.
    m_targetLabel->setVisible(!proxyMode);
    m_targetCombo->setVisible(!proxyMode);
    const bool showAllow = remote || !m_allowEdit->text().isEmpty();
    m_allowLabel->setVisible(showAllow);
    m_allowEdit->setVisible(showAllow);
    QStringList problems;
    if (!listenOk)
        problems.append(tr("Listen: %1").arg(listenError));
    if (!targetOk)
        problems.append(tr("Target: %1").arg(targetError));
    if (!allowOk)
        problems.append(tr("Allow: %1").arg(allowError));
    if (allowOk && remote && proxyMode && scratch.allowedClients.isEmpty()) {
        problems.append(tr("Allow: name the clients that may use this HTTP proxy; it must not be open to everyone"));
        allowOk = false;
    }
    if (remote)
        problems.append(tr("Listen: %1 is reachable from other machines (you will be asked to confirm)")
                            .arg(scratch.listenAddress.toString()));
    m_valid = listenOk && targetOk && allowOk;
    m_problem->setText(problems.join(QStringLiteral("  ·  ")));
    const QString bad = QStringLiteral("QLineEdit { border: 1px solid #b3261e; }");
    m_listenEdit->setStyleSheet(listenOk ? QString() : bad);
    m_targetCombo->setStyleSheet(targetOk ? QString() : QStringLiteral("QComboBox { border: 1px solid #b3261e; }"));
    emit edited();
}

void ProxyControls::applyTo(ProxyConfig *config) const
{
    QString error;
    config->mode = mode();
    config->setListen(m_listenEdit->text().trimmed(), &error);
    config->setAllowedClients(m_allowEdit->text(), &error);
    if (config->mode == ProxyConfig::Mode::HttpProxy) {
        config->targetHost.clear();
        config->builtinEcho = false;
    } else {
        config->setTarget(m_targetCombo->currentText().trimmed(), &error);
    }
}

void ProxyControls::setLocked(bool locked)
{
    m_listenEdit->setEnabled(!locked);
    m_targetCombo->setEnabled(!locked);
    m_modeCombo->setEnabled(!locked);
    m_allowEdit->setEnabled(!locked);
}

void ProxyControls::rememberTarget(const QString &target)
{
    const int existing = m_targetCombo->findText(target);
    if (existing >= 0)
        m_targetCombo->removeItem(existing);
    m_targetCombo->insertItem(0, target);
    while (m_targetCombo->count() > RecentTargets)
        m_targetCombo->removeItem(m_targetCombo->count() - 1);
    m_targetCombo->setCurrentIndex(0);
}

void ProxyControls::restore(const QSettings &settings)
{
    m_listenEdit->setText(settings.value(QStringLiteral("proxy/listen"), QStringLiteral("127.0.0.1:8080")).toString());
    ProxyConfig scratch;
    QString ignored;
    if (scratch.setMode(settings.value(QStringLiteral("proxy/mode")).toString(), &ignored))
        setMode(scratch.mode);
    m_allowEdit->setText(settings.value(QStringLiteral("proxy/allow")).toString());
    QStringList recent = settings.value(QStringLiteral("proxy/recentTargets")).toStringList();
    // The built-in echo server is always one click away.
    if (!recent.contains(QLatin1String(ProxyConfig::BuiltinEchoName)))
        recent.append(QLatin1String(ProxyConfig::BuiltinEchoName));
    m_targetCombo->addItems(recent);
    m_targetCombo->setEditText(settings.value(QStringLiteral("proxy/target"), recent.value(0)).toString());
}

void ProxyControls::save(QSettings *settings) const
{
    settings->setValue(QStringLiteral("proxy/listen"), m_listenEdit->text());
    settings->setValue(QStringLiteral("proxy/mode"), ProxyConfig::modeName(mode()));
    settings->setValue(QStringLiteral("proxy/allow"), m_allowEdit->text());
    settings->setValue(QStringLiteral("proxy/target"), m_targetCombo->currentText());
    QStringList recent;
    for (int i = 0; i < m_targetCombo->count(); ++i)
        recent.append(m_targetCombo->itemText(i));
    settings->setValue(QStringLiteral("proxy/recentTargets"), recent);
}
