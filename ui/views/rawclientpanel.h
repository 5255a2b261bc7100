#pragma once

#include "rawclient.h"

#include <QTimer>
#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;

// The lab's client, by hand: connect to proxymon's own port (or anywhere),
// type text or hex (or pick the lab's requests), send, shut down the write
// side, reset, and read what comes back until EOF. Each use shows in the
// connection list like any other client.
class RawClientPanel : public QWidget
{
    Q_OBJECT
public:
    explicit RawClientPanel(QWidget *parent = nullptr);

    // Where Connect goes unless the user typed something else: the proxy's
    // own listening address while it listens.
    void setDefaultTarget(const QString &target);

    RawClient *client() { return &m_client; }
    QString receivedText() const;
    QString statusText() const;

    // "48 65 6c 6c 6f" or "48656c6c6f" to bytes; false on anything else.
    static bool parseHex(const QString &text, QByteArray *bytes);

private:
    void connectOrClose();
    void sendInput();
    void onStateChanged(RawClient::State state);
    void onReceived(const QByteArray &bytes);
    void renderReceived();
    void applyPreset(int index);

    RawClient m_client;
    QLineEdit *m_target;
    QPushButton *m_connect;
    QComboBox *m_preset;
    QComboBox *m_lineEnd;
    QCheckBox *m_hexInput;
    QPlainTextEdit *m_input;
    QPushButton *m_send;
    QPushButton *m_shutdown;
    QPushButton *m_reset;
    QCheckBox *m_hexOutput;
    QPlainTextEdit *m_output;
    QLabel *m_status;
    QByteArray m_received;
    QString m_defaultTarget;
    QTimer m_renderDelay; // a fast stream re-renders the view a few times a second, not per read
};
