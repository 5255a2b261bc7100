#include "mainwindow.h"

#include "bannerstyle.h"
#include "batchintake.h"
#include "builtinecho.h"
#include "captureactions.h"
#include "capturefiles.h"
#include "captureviews.h"
#include "conditionspanel.h"
#include "connectionfiltermodel.h"
#include "connectiontablemodel.h"
#include "exchangedetailview.h"
#include "exchangefiltermodel.h"
#include "exchangetablemodel.h"
#include "filteredit.h"
#include "passthroughbar.h"
#include "proxycontrols.h"
#include "proxyserver.h"
#include "proxysession.h"
#include "proxystatusbar.h"
#include "rawclientpanel.h"
#include "resender.h"
#include "tlsrowitems.h"
#include "windowactions.h"

#include <QAction>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QTableView>
#include <QToolBar>
#include <QVBoxLayout>

MainWindow::MainWindow(const ProxyConfig &engine, QWidget *parent)
    : QMainWindow(parent)
    , m_server(new ProxyServer(this))
    , m_connectionModel(new ConnectionTableModel(&m_store, this))
    , m_connectionFilter(new ConnectionFilterModel(&m_store, this))
    , m_exchangeModel(new ExchangeTableModel(&m_store, this))
    , m_exchangeFilter(new ExchangeFilterModel(&m_store, this))
{
    m_server->setEchoStarter(BuiltinEcho::starter());
    setWindowTitle(tr("proxymon"));
    setWindowIcon(QIcon(QStringLiteral(":/proxymon/icons/proxymon.svg")));
    m_connectionFilter->setSourceModel(m_connectionModel);
    m_exchangeFilter->setSourceModel(m_exchangeModel);

    m_intake = new BatchIntake([this](const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges) {
        takeBatch(records, exchanges);
    }, this);
    m_files = new CaptureFiles(&m_store, m_intake, this);
    connect(m_files, &CaptureFiles::problem, this, &MainWindow::showProblem);
    connect(m_files, &CaptureFiles::message, this, &MainWindow::showMessage);
    connect(m_files, &CaptureFiles::replacing, this, [this] {
        m_server->stop();
        m_resender->forget();
    });
    connect(m_files, &CaptureFiles::opened, this, [this](const QString &path) {
        m_banner->hide();
        setShownFile(path);
        m_status->refresh();
    });
    m_session = new ProxySession(m_server, engine, this);
    connect(m_session, &ProxySession::problem, this, &MainWindow::showProblem);
    m_resender = new Resender(m_server, &m_store, this);
    connect(m_resender, &Resender::problem, this, &MainWindow::showProblem);
    connect(m_resender, &Resender::message, this, &MainWindow::showMessage);
    buildActions();
    buildToolBar();
    buildViews();
    m_status = new ProxyStatusBar(m_server, &m_store, this);
    setStatusBar(m_status);
    buildMenus();

    connect(m_server, &ProxyServer::published, m_intake, &BatchIntake::push);
    connect(m_server, &ProxyServer::listeningChanged, this, &MainWindow::onListeningChanged);
    connect(m_server, &ProxyServer::notice, this, [this](const QString &message) {
        showBanner(message, false);
    });

    restoreSettings();
    if (!engine.targetHost.isEmpty() || engine.mode == ProxyConfig::Mode::HttpProxy) {
        setListenText(engine.listenText());
        m_controls->setMode(engine.mode);
        m_controls->setAllowText(engine.allowedClientsText());
    }
    if (!engine.targetHost.isEmpty())
        setTargetText(engine.targetText());
    onListeningChanged(false);
    m_views->connectionSelected(); // the exchange list starts in step with the selection (none)
    m_status->refresh();
}

MainWindow::~MainWindow()
{
    // The models listen to the store, which is a member and dies before
    // QObject children do: they go first.
    delete m_connectionFilter;
    delete m_exchangeFilter;
    delete m_connectionModel;
    delete m_exchangeModel;
}

void MainWindow::buildActions()
{
    m_act = new WindowActions(this, m_session->engine().decrypt);
    connect(m_act->startStop, &QAction::triggered, this, &MainWindow::toggleProxy);
    connect(m_act->clear, &QAction::triggered, this, &MainWindow::clearCapture);
    const auto exportAs = [this](QAction *action, const QString &format) {
        connect(action, &QAction::triggered, this, [this, format] {
            m_files->askExport(CaptureSelection(m_filterEdit->filter()), format);
        });
    };
    exportAs(m_act->exportJsonl, QStringLiteral("jsonl"));
    exportAs(m_act->exportHar, QStringLiteral("har"));
    exportAs(m_act->exportPcapng, QStringLiteral("pcapng"));
    connect(m_act->saveSession, &QAction::triggered, this,
            [this] { m_files->askExport(CaptureSelection(), QStringLiteral("session")); });
    connect(m_act->openSession, &QAction::triggered, m_files, &CaptureFiles::askOpen);
    connect(m_act->pause, &QAction::toggled, this, [this](bool paused) { m_status->setPaused(paused); });
    connect(m_act->decrypt, &QAction::toggled, m_session, &ProxySession::setDecryption);
    connect(m_act->focusFilter, &QAction::triggered, this, [this] {
        m_filterEdit->setFocus(Qt::ShortcutFocusReason);
        m_filterEdit->selectAll();
    });
    connect(m_act->keyLog, &QAction::triggered, this, [this](bool on) {
        if (!on) {
            setKeyLogFile(QString());
            return;
        }
        const QString path = QFileDialog::getSaveFileName(this, tr("TLS key log"),
                                                          QDir::home().filePath(QStringLiteral("proxymon-keys.log")));
        setKeyLogFile(path);
    });
}

void MainWindow::buildToolBar()
{
    QToolBar *bar = addToolBar(tr("Proxy"));
    bar->setObjectName(QStringLiteral("proxyToolBar"));
    bar->setMovable(false);
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->addAction(m_act->startStop);
    bar->addSeparator();

    m_controls = new ProxyControls(bar);
    bar->addWidget(m_controls);
    bar->addSeparator();
    bar->addAction(m_act->pause);
    bar->addAction(m_act->decrypt);
    bar->addAction(m_act->clear);

    // The filter gets a row of its own: it is used all the time and wants
    // the width, which the proxy's row no longer has.
    addToolBarBreak();
    QToolBar *filterBar = addToolBar(tr("Filter"));
    filterBar->setObjectName(QStringLiteral("filterToolBar"));
    filterBar->setMovable(false);
    filterBar->addWidget(new QLabel(tr(" Filter "), filterBar));
    m_filterEdit = new FilterEdit(filterBar);
    filterBar->addWidget(m_filterEdit);

    connect(m_controls, &ProxyControls::edited, this, &MainWindow::onInputsEdited);
    connect(m_controls, &ProxyControls::startRequested, this, &MainWindow::startProxy);
    connect(m_filterEdit, &FilterEdit::applied, this, [this](const CaptureFilter &filter) {
        m_connectionFilter->setFilter(filter);
        m_exchangeFilter->setFilter(filter);
    });
    connect(m_filterEdit, &FilterEdit::problem, this,
            [this](const QString &error) { statusBar()->showMessage(tr("Filter: %1").arg(error), 5000); });
}

void MainWindow::buildViews()
{
    m_views = new CaptureViews(&m_store, m_connectionModel, m_connectionFilter, m_exchangeFilter,
                               [this](quint64 id) { return m_resender->originOf(id); }, this);
    connect(m_act->allExchanges, &QAction::toggled, m_views, &CaptureViews::setAllExchanges);

    // The docks start hidden; their names keep their place in the saved state.
    const auto dock = [this](QWidget *panel, const char *name, const QString &title) {
        auto *dock = new QDockWidget(title, this);
        dock->setObjectName(QLatin1String(name));
        dock->setWidget(panel);
        addDockWidget(Qt::RightDockWidgetArea, dock);
        dock->hide();
        return dock;
    };
    m_rawClient = new RawClientPanel(this);
    m_rawClient->setObjectName(QStringLiteral("rawClient"));
    m_rawClientDock = dock(m_rawClient, "rawClientDock", tr("Raw client"));
    m_conditions = new ConditionsPanel(this);
    m_conditions->setObjectName(QStringLiteral("conditionsPanel"));
    m_conditions->showRules(m_session->engine().rules);
    m_conditionsDock = dock(m_conditions, "conditionsDock", tr("Conditions and faults"));
    connect(m_conditions, &ConditionsPanel::applied, this, [this](const RuleSet &rules) {
        m_session->setRules(rules);
        statusBar()->showMessage(rules.isEmpty() ? tr("No conditions or faults from now on")
                                                 : tr("%n condition(s) and %1 fault(s) in force", nullptr,
                                                      int(rules.conditions.size()))
                                                       .arg(rules.faults.size()),
                                 8000);
    });

    m_banner = new QLabel(this);
    m_banner->setObjectName(QStringLiteral("banner"));
    m_banner->setWordWrap(true);
    m_banner->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_banner->hide();

    m_passthroughBar = new PassthroughBar(m_server->interception(), this);
    connect(m_server, &ProxyServer::interceptionChanged, m_passthroughBar, &PassthroughBar::refresh);

    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    layout->addWidget(m_banner);
    layout->addWidget(m_passthroughBar);
    layout->addWidget(m_views->widget(), 1);
    setCentralWidget(central);

    m_actions = new CaptureActions(&m_store, m_server, m_views->connections(), m_views->exchanges(), m_exchangeFilter, this);
    connect(m_actions, &CaptureActions::filterRequested, this, [this](const QString &text) {
        m_filterEdit->setText(text);
        m_filterEdit->apply();
    });
    connect(m_actions, &CaptureActions::exportRequested, m_files, &CaptureFiles::askExport);
    connect(m_actions, &CaptureActions::resendRequested, m_resender, &Resender::resend);
    connect(m_actions, &CaptureActions::message, this, &MainWindow::showMessage);
    connect(m_views->connections(), &QWidget::customContextMenuRequested, this, &MainWindow::showConnectionMenu);
    connect(m_views->exchanges(), &QWidget::customContextMenuRequested, m_actions, &CaptureActions::showExchangeMenu);
}

void MainWindow::buildMenus()
{
    m_act->fillMenuBar(menuBar(), m_actions, m_rawClientDock, m_conditionsDock,
                       findChild<QToolBar *>(QStringLiteral("proxyToolBar")));
}

void MainWindow::restoreSettings()
{
    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    if (!settings.contains(QStringLiteral("window/geometry")))
        resize(1200, 760);
    restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
    m_views->restore(settings);
    m_act->allExchanges->setChecked(settings.value(QStringLiteral("exchanges/allConnections"), false).toBool());
    m_controls->restore(settings);
    m_conditions->restore(settings);
}

void MainWindow::saveSettings() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    m_views->save(&settings);
    settings.setValue(QStringLiteral("exchanges/allConnections"), m_act->allExchanges->isChecked());
    m_controls->save(&settings);
    m_conditions->save(&settings);
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    saveSettings();
    m_server->stop();
    QMainWindow::closeEvent(event);
}

void MainWindow::setListenText(const QString &text)
{
    m_controls->setListenText(text);
}

void MainWindow::setTargetText(const QString &text)
{
    m_controls->setTargetText(text);
}

bool MainWindow::isListening() const
{
    return m_server->isListening();
}

void MainWindow::onInputsEdited()
{
    if (!m_server->isListening())
        m_act->startStop->setEnabled(m_controls->isValid());
}

void MainWindow::toggleProxy()
{
    if (m_server->isListening())
        stopProxy();
    else
        startProxy();
}

void MainWindow::startProxy()
{
    if (m_server->isListening())
        return;
    if (!m_controls->isValid()) {
        showBanner(tr("Cannot start: %1").arg(m_controls->problems()), true);
        return;
    }
    if (m_files->busy())
        return;
    if (!m_openedFile.isEmpty()) {
        // The file stays on disk; the lists now follow the live capture.
        m_intake->clear();
        m_store.clear();
        m_resender->forget();
        m_openedFile.clear();
    }
    switch (m_session->start(*m_controls, m_passthroughBar->excluded())) {
    case ProxySession::Start::Declined:
        return;
    case ProxySession::Start::Failed:
        onListeningChanged(false);
        return;
    case ProxySession::Start::Started:
        break;
    }
    m_banner->hide();
    const ProxyConfig config = m_server->config();
    if (config.mode != ProxyConfig::Mode::HttpProxy)
        m_controls->rememberTarget(config.targetText());
    saveSettings();
}

void MainWindow::stopProxy()
{
    m_server->stop();
}

void MainWindow::clearCapture()
{
    if (m_files->busy())
        return; // a file is being written from the store; the progress dialog says so
    m_intake->clear();
    m_store.clear();
    m_resender->forget();
    m_files->cleared();
    if (!m_openedFile.isEmpty())
        setShownFile(QString());
    m_views->showNothing();
    m_status->refresh();
}

bool MainWindow::exportTo(const QString &path)
{
    return m_files->write(path, QStringLiteral("jsonl"), CaptureSelection(m_filterEdit->filter()));
}

void MainWindow::onListeningChanged(bool listening)
{
    // The buttons follow what the server says, not what was asked of it.
    listening = m_server->isListening();
    m_act->showListening(listening, m_controls->isValid());
    m_controls->setLocked(listening);
    // The server's config holds the port it really listens on.
    const ProxyConfig config = m_server->config();
    m_status->showListening(listening, config);
    if (listening) {
        const QString where = config.listenText();
        const QString to = config.mode == ProxyConfig::Mode::HttpProxy ? tr("HTTP proxy") : config.targetText();
        m_rawClient->setDefaultTarget(where);
        setWindowTitle(tr("proxymon — %1 → %2").arg(where, to));
    } else if (!m_openedFile.isEmpty()) {
        setWindowTitle(tr("proxymon — %1 (opened file)").arg(QFileInfo(m_openedFile).fileName()));
    } else {
        setWindowTitle(tr("proxymon"));
    }
}

void MainWindow::takeBatch(const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges)
{
    m_status->count(records);
    // A file on screen: live batches (a stopping proxy's last ones) are
    // counted, not mixed into it.
    if (!m_openedFile.isEmpty())
        return;
    m_resender->noteRecords(records);
    if (!m_act->pause->isChecked()) {
        if (!records.isEmpty())
            m_files->captured();
        m_store.add(records, exchanges);
        m_views->followShown(records);
        return;
    }
    // Paused: the connections already listed still move on; nothing new.
    QList<ConnectionRecord> known;
    for (const ConnectionRecord &record : records) {
        if (m_store.connectionRow(record.id) >= 0)
            known.append(record);
    }
    if (!known.isEmpty()) {
        m_store.add(known, {});
        m_views->followShown(known);
    }
}

void MainWindow::setKeyLogFile(const QString &path)
{
    m_act->keyLog->setChecked(!path.isEmpty());
    if (m_session->setKeyLogFile(path))
        statusBar()->showMessage(tr("The key log starts with the next start of the proxy"), 8000);
}

void MainWindow::showConnectionMenu(const QPoint &at)
{
    const QModelIndex index = m_views->connections()->indexAt(at);
    if (!index.isValid())
        return;
    const qsizetype row = m_store.connectionRow(index.data(ConnectionTableModel::IdRole).toULongLong());
    if (row < 0)
        return;
    // The TLS items for this connection's host, above the common ones.
    QObject holder;
    const QList<QAction *> extra =
        TlsRowItems::make(m_store.connectionAt(row), m_server->interception(), m_passthroughBar, &holder);
    m_actions->showConnectionMenu(at, extra);
}

void MainWindow::setShownFile(const QString &path)
{
    m_openedFile = path;
    onListeningChanged(m_server->isListening());
}

void MainWindow::showBanner(const QString &text, bool error)
{
    m_banner->setText(text);
    m_banner->setStyleSheet(error ? BannerStyle::error() : BannerStyle::warning());
    m_banner->show();
}
