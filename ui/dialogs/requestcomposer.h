#pragma once

#include "replayrequest.h"

#include <QDialog>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QTableWidget;

// Edit and resend: a captured request in editable parts (method, URL,
// version, headers as rows, body as text or hex, or a file as the body),
// sent through proxymon's own listener when the user presses Send.
class RequestComposer : public QDialog
{
    Q_OBJECT
public:
    // where: words for where it will go ("through the HTTP proxy on ...").
    RequestComposer(const ReplayRequest &request, const QString &where, bool forwarding, QWidget *parent = nullptr);

    // What the fields say now; *error when the body's hex does not read.
    ReplayRequest request(QString *error = nullptr) const;

    // The body as it will be sent (for files the user picked).
    void setBody(const QByteArray &body);

signals:
    void sendRequested(const ReplayRequest &request);

private:
    void addHeaderRow(const QByteArray &name, const QByteArray &value);
    void showBody();
    void check();
    QByteArray bodyBytes(bool *ok) const;

    ReplayRequest m_original;
    QComboBox *m_method;
    QLineEdit *m_url;
    QComboBox *m_version;
    QCheckBox *m_tls;
    QTableWidget *m_headers;
    QComboBox *m_bodyMode;
    QPlainTextEdit *m_body;
    QLabel *m_problem;
    QPushButton *m_send;
    int m_shownMode = 0;
};
