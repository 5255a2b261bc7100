#include "catrustdialog.h"

#include "bannerstyle.h"
#include "certificateauthority.h"
#include "trustinstructions.h"

#include <QApplication>
#include <QClipboard>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSaveFile>
#include <QVBoxLayout>

CaTrustDialog::CaTrustDialog(QWidget *parent)
    : QDialog(parent)
    , m_summary(new QLabel(this))
    , m_problem(new QLabel(this))
    , m_steps(new QWidget(this))
    , m_stepsLayout(new QVBoxLayout(m_steps))
{
    setWindowTitle(tr("Trust proxymon's certificate authority"));
    m_summary->setObjectName(QStringLiteral("caSummary"));
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_problem->setObjectName(QStringLiteral("caProblem"));
    m_problem->setWordWrap(true);
    m_problem->setStyleSheet(BannerStyle::error());
    m_problem->hide();
    m_stepsLayout->setContentsMargins(0, 0, 0, 0);

    auto *explanation = new QLabel(tr("proxymon's own certificates for HTTPS are signed by this authority, which "
                                      "is unique to this installation. A client accepts them once it trusts the "
                                      "authority:"),
                                   this);
    explanation->setWordWrap(true);

    auto *savePem = new QPushButton(tr("Save as PEM…"), this);
    savePem->setObjectName(QStringLiteral("caSavePem"));
    auto *saveDer = new QPushButton(tr("Save as DER…"), this);
    saveDer->setObjectName(QStringLiteral("caSaveDer"));
    auto *replace = new QPushButton(tr("Replace…"), this);
    replace->setObjectName(QStringLiteral("caReplace"));
    replace->setToolTip(tr("Make a new authority; every client that trusted this one must trust the new one"));
    connect(savePem, &QPushButton::clicked, this, [this] { saveAs(false); });
    connect(saveDer, &QPushButton::clicked, this, [this] { saveAs(true); });
    connect(replace, &QPushButton::clicked, this, [this] {
        const auto answer = QMessageBox::warning(this, tr("Replace the authority?"),
                                                 tr("Clients that trust the current authority will reject "
                                                    "proxymon's certificates until they trust the new one. "
                                                    "Replace it?"),
                                                 QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel);
        if (answer == QMessageBox::Yes)
            replaceAuthority();
    });
    auto *fileButtons = new QHBoxLayout;
    fileButtons->addWidget(savePem);
    fileButtons->addWidget(saveDer);
    fileButtons->addStretch(1);
    fileButtons->addWidget(replace);

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(explanation);
    layout->addWidget(m_summary);
    layout->addLayout(fileButtons);
    layout->addWidget(m_problem);
    layout->addWidget(m_steps);
    layout->addStretch(1);
    layout->addWidget(buttons);
    resize(820, 520);

    QString error;
    auto authority = CertificateAuthority::open(CertificateAuthority::defaultDirectory(), &error);
    present(std::move(authority), error);
}

CaTrustDialog::~CaTrustDialog() = default;

void CaTrustDialog::present(std::unique_ptr<CertificateAuthority> authority, const QString &error)
{
    m_authority = std::move(authority);
    while (QLayoutItem *item = m_stepsLayout->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    if (!m_authority) {
        m_summary->setText(QString());
        m_problem->setText(tr("The authority cannot be used: %1").arg(error));
        m_problem->show();
        return;
    }
    m_problem->hide();
    m_summary->setText(tr("Certificate: %1\nSHA-256 fingerprint: %2\nValid until %3")
                           .arg(m_authority->certificatePath(), m_authority->fingerprint(),
                                m_authority->validUntil().toString(QStringLiteral("yyyy-MM-dd"))));
    for (const TrustInstructions::Step &step : TrustInstructions::forCertificate(m_authority->certificatePath())) {
        auto *who = new QLabel(step.who + QLatin1Char(':'), m_steps);
        who->setWordWrap(true);
        auto *row = new QWidget(m_steps);
        auto *rowLayout = new QHBoxLayout(row);
        rowLayout->setContentsMargins(0, 0, 0, 6);
        auto *command = new QLineEdit(step.command, row);
        command->setObjectName(QStringLiteral("trustCommand"));
        command->setReadOnly(true);
        command->setCursorPosition(0);
        auto *copy = new QPushButton(tr("Copy"), row);
        connect(copy, &QPushButton::clicked, this, [text = step.command] { QApplication::clipboard()->setText(text); });
        rowLayout->addWidget(command, 1);
        rowLayout->addWidget(copy);
        m_stepsLayout->addWidget(who);
        m_stepsLayout->addWidget(row);
    }
}

bool CaTrustDialog::saveTo(const QString &path, bool der)
{
    if (!m_authority)
        return false;
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)
        || file.write(der ? m_authority->certificateDer() : m_authority->certificatePem()) < 0 || !file.commit()) {
        m_problem->setText(tr("Could not save to %1: %2").arg(path, file.errorString()));
        m_problem->show();
        return false;
    }
    m_problem->hide();
    return true;
}

bool CaTrustDialog::replaceAuthority()
{
    QString error;
    auto authority = CertificateAuthority::replace(CertificateAuthority::defaultDirectory(), &error);
    const bool replaced = authority != nullptr;
    present(std::move(authority), error);
    return replaced;
}

void CaTrustDialog::saveAs(bool der)
{
    const QString path = QFileDialog::getSaveFileName(
        this, der ? tr("Save the certificate as DER") : tr("Save the certificate as PEM"),
        der ? QStringLiteral("proxymon-ca.der") : QStringLiteral("proxymon-ca.pem"),
        der ? tr("DER certificate (*.der *.cer)") : tr("PEM certificate (*.pem *.crt)"));
    if (!path.isEmpty())
        saveTo(path, der);
}
