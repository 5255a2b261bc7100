#pragma once

#include <QDialog>

#include <memory>

class CertificateAuthority;
class QLabel;
class QVBoxLayout;

// "Trust proxymon's CA": where the authority's certificate is and its
// fingerprint, saving it as PEM or DER, replacing it on request, and for
// each kind of client the command that makes it trust the certificate,
// each with a Copy button. The authority is made on first use.
class CaTrustDialog : public QDialog
{
    Q_OBJECT
public:
    explicit CaTrustDialog(QWidget *parent = nullptr);
    ~CaTrustDialog() override;

    // Saves the certificate (DER or PEM); false with the reason shown.
    bool saveTo(const QString &path, bool der);
    // Makes a new authority in place of the current one.
    bool replaceAuthority();

private:
    void present(std::unique_ptr<CertificateAuthority> authority, const QString &error);
    void saveAs(bool der);

    QLabel *m_summary;
    QLabel *m_problem;
    QWidget *m_steps;
    QVBoxLayout *m_stepsLayout;
    std::unique_ptr<CertificateAuthority> m_authority;
};
