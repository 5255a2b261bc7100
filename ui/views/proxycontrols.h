#pragma once

#include "proxyconfig.h"

#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QSettings;

// The proxy's settings in the window's toolbar: where to listen, the mode,
// the target (forwarding only; recent ones in its list) and the clients
// allowed (shown once other machines could connect, or when set). Checks
// them as they are typed and says what is wrong beside them.
class ProxyControls : public QWidget
{
    Q_OBJECT
public:
    explicit ProxyControls(QWidget *parent = nullptr);

    ProxyConfig::Mode mode() const;
    void setMode(ProxyConfig::Mode mode);
    void setListenText(const QString &text);
    void setTargetText(const QString &text);
    void setAllowText(const QString &text);

    // Whether the settings can start the proxy, and if not, why.
    bool isValid() const { return m_valid; }
    QString problems() const;
    // Writes the settings into config (valid settings only).
    void applyTo(ProxyConfig *config) const;
    // Not editable while the proxy runs with them.
    void setLocked(bool locked);
    // Puts target first in the recent list.
    void rememberTarget(const QString &target);

    void restore(const QSettings &settings);
    void save(QSettings *settings) const;

signals:
    // GUI thread: a setting changed; isValid() may have changed.
    void edited();
    // GUI thread: Return was pressed in one of the fields.
    void startRequested();

private:
    void validate();

    QLineEdit *m_listenEdit;
    QComboBox *m_modeCombo;
    QLabel *m_targetLabel;
    QComboBox *m_targetCombo;
    QLabel *m_allowLabel;
    QLineEdit *m_allowEdit;
    QLabel *m_problem;
    bool m_valid = false;
};
