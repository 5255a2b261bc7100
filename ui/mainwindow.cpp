#include "mainwindow.h"

#include "builtinecho.h"
#include "captureexport.h"
#include "connectionfiltermodel.h"
#include "connectiontablemodel.h"
#include "displaytext.h"
#include "exchangedetailview.h"
#include "exchangefiltermodel.h"
#include "exchangetablemodel.h"
#include "proxyserver.h"
#include "rawclientpanel.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDateTime>
#include <QDockWidget>
#include <QFileDialog>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QSaveFile>
#include <QScrollBar>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QTableView>
#include <QToolBar>
#include <QVBoxLayout>

namespace {

constexpr int RecentTargets = 10;

QString errorStyle()
{
    return QStringLiteral("QLabel { background: #fde2e0; color: #8a1c12; padding: 4px 8px; }");
}

QString warningStyle()
{
    return QStringLiteral("QLabel { background: #fff3cd; color: #6b4e00; padding: 4px 8px; }");
}

} // namespace

MainWindow::MainWindow(const ProxyConfig &engine, QWidget *parent)
    : QMainWindow(parent)
    , m_engine(engine)
    , m_server(new ProxyServer(this))
    , m_connectionModel(new ConnectionTableModel(&m_store, this))
    , m_connectionFilter(new ConnectionFilterModel(&m_store, this))
    , m_exchangeModel(new ExchangeTableModel(&m_store, this))
    , m_exchangeFilter(new ExchangeFilterModel(&m_store, this))
{
    setWindowTitle(tr("proxymon"));
    setWindowIcon(QIcon(QStringLiteral(":/proxymon/icons/proxymon.svg")));
    m_connectionFilter->setSourceModel(m_connectionModel);
    m_exchangeFilter->setSourceModel(m_exchangeModel);

    buildActions();
    buildToolBar();
    buildViews();
    buildStatusBar();
    buildMenus();

    connect(m_server, &ProxyServer::published, this, &MainWindow::onPublished);
    connect(m_server, &ProxyServer::listeningChanged, this, &MainWindow::onListeningChanged);
    connect(m_server, &ProxyServer::notice, this, [this](const QString &message) {
        showBanner(message, false);
    });
    m_filterDelay.setSingleShot(true);
    m_filterDelay.setInterval(150);
    connect(&m_filterDelay, &QTimer::timeout, this, &MainWindow::applyFilter);
    m_statusTimer.setInterval(500);
    connect(&m_statusTimer, &QTimer::timeout, this, &MainWindow::updateStatus);
    m_statusTimer.start();

    restoreSettings();
    if (!engine.targetHost.isEmpty() || engine.mode == ProxyConfig::Mode::HttpProxy) {
        setListenText(engine.listenText());
        m_modeCombo->setCurrentIndex(m_modeCombo->findData(int(engine.mode)));
        m_allowEdit->setText(engine.allowedClientsText());
    }
    if (!engine.targetHost.isEmpty())
        setTargetText(engine.targetText());
    validateInputs();
    onListeningChanged(false);
    onConnectionSelected(); // the exchange list starts in step with the selection (none)
    updateStatus();
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
    m_startStop = new QAction(this);
    m_startStop->setObjectName(QStringLiteral("startStop"));
    m_startStop->setShortcut(Qt::Key_F5);
    connect(m_startStop, &QAction::triggered, this, &MainWindow::toggleProxy);

    m_clear = new QAction(style()->standardIcon(QStyle::SP_DialogResetButton), tr("Clear"), this);
    m_clear->setObjectName(QStringLiteral("clear"));
    m_clear->setShortcut(Qt::CTRL | Qt::Key_L);
    m_clear->setToolTip(tr("Forget the captured connections and exchanges (Ctrl+L)"));
    connect(m_clear, &QAction::triggered, this, &MainWindow::clearCapture);

    m_export = new QAction(style()->standardIcon(QStyle::SP_DialogSaveButton), tr("Export…"), this);
    m_export->setObjectName(QStringLiteral("export"));
    m_export->setShortcut(QKeySequence::Save);
    m_export->setToolTip(tr("Save the connections and exchanges the lists show as JSON Lines, "
                            "the format of the headless --jsonl stream (Ctrl+S)"));
    connect(m_export, &QAction::triggered, this, [this] {
        const QString path = QFileDialog::getSaveFileName(this, tr("Export capture"),
                                                          QStringLiteral("proxymon-capture.jsonl"),
                                                          tr("JSON Lines (*.jsonl);;All files (*)"));
        if (!path.isEmpty())
            exportTo(path);
    });

    m_pause = new QAction(style()->standardIcon(QStyle::SP_MediaPause), tr("Pause capture"), this);
    m_pause->setObjectName(QStringLiteral("pauseCapture"));
    m_pause->setCheckable(true);
    m_pause->setShortcut(Qt::Key_F12);
    m_pause->setToolTip(tr("Stop recording new connections and exchanges; forwarding goes on (F12)"));
    connect(m_pause, &QAction::toggled, this, [this](bool paused) {
        m_pausedLabel->setVisible(paused);
        updateStatus();
    });

    m_allExchanges = new QAction(tr("Exchanges of all connections"), this);
    m_allExchanges->setObjectName(QStringLiteral("allExchanges"));
    m_allExchanges->setCheckable(true);
    m_allExchanges->setToolTip(tr("List the exchanges of every connection, not just the selected one"));
    connect(m_allExchanges, &QAction::toggled, this, &MainWindow::onConnectionSelected);

    m_focusFilter = new QAction(tr("Filter…"), this);
    m_focusFilter->setShortcut(QKeySequence::Find);
    connect(m_focusFilter, &QAction::triggered, this, [this] {
        m_filterEdit->setFocus(Qt::ShortcutFocusReason);
        m_filterEdit->selectAll();
    });
    addAction(m_focusFilter);
}

void MainWindow::buildToolBar()
{
    QToolBar *bar = addToolBar(tr("Proxy"));
    bar->setObjectName(QStringLiteral("proxyToolBar"));
    bar->setMovable(false);
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->addAction(m_startStop);
    bar->addSeparator();

    bar->addWidget(new QLabel(tr(" Listen "), bar));
    m_listenEdit = new QLineEdit(bar);
    m_listenEdit->setObjectName(QStringLiteral("listenEdit"));
    m_listenEdit->setPlaceholderText(tr("127.0.0.1:8080"));
    m_listenEdit->setToolTip(tr("Address and port proxymon listens on; clients connect here"));
    m_listenEdit->setMinimumWidth(150);
    m_listenEdit->setMaximumWidth(180);
    bar->addWidget(m_listenEdit);

    m_modeCombo = new QComboBox(bar);
    m_modeCombo->setObjectName(QStringLiteral("modeCombo"));
    m_modeCombo->addItem(tr("Forward to target"), int(ProxyConfig::Mode::Forward));
    m_modeCombo->addItem(tr("HTTP proxy"), int(ProxyConfig::Mode::HttpProxy));
    m_modeCombo->setToolTip(tr("Forward to target: every connection goes to one server.\n"
                               "HTTP proxy: set proxymon as the client's proxy (curl -x, http_proxy=, a "
                               "browser's proxy setting); each request names its host, CONNECT opens tunnels."));
    bar->addWidget(new QLabel(QStringLiteral("  "), bar));
    bar->addWidget(m_modeCombo);

    m_targetLabelAction = bar->addWidget(new QLabel(tr("  Target "), bar));
    m_targetCombo = new QComboBox(bar);
    m_targetCombo->setObjectName(QStringLiteral("targetCombo"));
    m_targetCombo->setEditable(true);
    m_targetCombo->setInsertPolicy(QComboBox::NoInsert);
    m_targetCombo->setMinimumWidth(180);
    m_targetCombo->lineEdit()->setPlaceholderText(tr("host:port of the real server"));
    m_targetCombo->setToolTip(tr("Where proxymon forwards each connection; recent targets are in the list"));
    m_targetAction = bar->addWidget(m_targetCombo);

    m_allowLabelAction = bar->addWidget(new QLabel(tr("  Allow "), bar));
    m_allowEdit = new QLineEdit(bar);
    m_allowEdit->setObjectName(QStringLiteral("allowEdit"));
    m_allowEdit->setPlaceholderText(tr("clients, e.g. 192.168.1.0/24"));
    m_allowEdit->setToolTip(tr("Only these clients may connect (addresses or ADDR/PREFIX, comma-separated). "
                               "Required for an HTTP proxy that other machines can reach."));
    m_allowEdit->setMaximumWidth(200);
    m_allowAction = bar->addWidget(m_allowEdit);

    m_inputProblem = new QLabel(bar);
    m_inputProblem->setObjectName(QStringLiteral("inputProblem"));
    m_inputProblem->setStyleSheet(QStringLiteral("QLabel { color: #b3261e; padding-left: 6px; }"));
    bar->addWidget(m_inputProblem);
    bar->addSeparator();
    bar->addAction(m_pause);
    bar->addAction(m_clear);

    // The filter gets a row of its own: it is used all the time and wants
    // the width, which the proxy's row no longer has.
    addToolBarBreak();
    QToolBar *filterBar = addToolBar(tr("Filter"));
    filterBar->setObjectName(QStringLiteral("filterToolBar"));
    filterBar->setMovable(false);
    filterBar->addWidget(new QLabel(tr(" Filter "), filterBar));
    m_filterEdit = new QLineEdit(filterBar);
    m_filterEdit->setObjectName(QStringLiteral("filterEdit"));
    m_filterEdit->setClearButtonEnabled(true);
    m_filterEdit->setPlaceholderText(tr("Filter (Ctrl+F): words, host: status: method: client: state: is:"));
    m_filterEdit->setToolTip(tr("Words match anywhere; host:example status:4xx method:post client:127.0.0.1 "
                                "state:reset is:flagged narrow to a field; -term excludes"));
    m_filterEdit->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    filterBar->addWidget(m_filterEdit);

    connect(m_listenEdit, &QLineEdit::textChanged, this, &MainWindow::validateInputs);
    connect(m_targetCombo, &QComboBox::editTextChanged, this, &MainWindow::validateInputs);
    connect(m_modeCombo, &QComboBox::currentIndexChanged, this, &MainWindow::validateInputs);
    connect(m_allowEdit, &QLineEdit::textChanged, this, &MainWindow::validateInputs);
    connect(m_allowEdit, &QLineEdit::returnPressed, this, &MainWindow::startProxy);
    connect(m_listenEdit, &QLineEdit::returnPressed, this, &MainWindow::startProxy);
    connect(m_targetCombo->lineEdit(), &QLineEdit::returnPressed, this, &MainWindow::startProxy);
    connect(m_filterEdit, &QLineEdit::textChanged, this, [this] { m_filterDelay.start(); });
}

void MainWindow::buildViews()
{
    const auto makeTable = [this](const QString &name, QAbstractItemModel *model) {
        auto *view = new QTableView(this);
        view->setObjectName(name);
        view->setModel(model);
        view->setSortingEnabled(true);
        view->setSelectionBehavior(QAbstractItemView::SelectRows);
        view->setSelectionMode(QAbstractItemView::SingleSelection);
        view->setAlternatingRowColors(true);
        view->setWordWrap(false);
        view->verticalHeader()->hide();
        view->verticalHeader()->setDefaultSectionSize(view->fontMetrics().height() + 6);
        view->horizontalHeader()->setSectionsMovable(true);
        view->horizontalHeader()->setHighlightSections(false);
        view->horizontalHeader()->setStretchLastSection(true);
        installColumnMenu(view);
        return view;
    };
    m_connectionsView = makeTable(QStringLiteral("connectionsView"), m_connectionFilter);
    m_connectionsView->sortByColumn(ConnectionTableModel::Id, Qt::AscendingOrder);
    m_connectionsView->setColumnWidth(ConnectionTableModel::Id, 60);
    m_connectionsView->setColumnWidth(ConnectionTableModel::Client, 150);
    m_connectionsView->setColumnWidth(ConnectionTableModel::Upstream, 190);
    m_connectionsView->setColumnWidth(ConnectionTableModel::State, 170);
    m_exchangesView = makeTable(QStringLiteral("exchangesView"), m_exchangeFilter);
    m_exchangesView->sortByColumn(ExchangeTableModel::Connection, Qt::AscendingOrder);
    m_exchangesView->setColumnWidth(ExchangeTableModel::Connection, 60);
    m_exchangesView->setColumnWidth(ExchangeTableModel::Method, 70);
    m_exchangesView->setColumnWidth(ExchangeTableModel::Target, 220);
    m_exchangesView->setColumnWidth(ExchangeTableModel::Flags, 24);
    m_detail = new ExchangeDetailView(this);
    m_detail->setObjectName(QStringLiteral("detailView"));

    m_bottomSplitter = new QSplitter(Qt::Horizontal, this);
    m_bottomSplitter->setObjectName(QStringLiteral("bottomSplitter"));
    m_bottomSplitter->addWidget(m_exchangesView);
    m_bottomSplitter->addWidget(m_detail);
    m_bottomSplitter->setStretchFactor(0, 1);
    m_bottomSplitter->setStretchFactor(1, 1);
    m_mainSplitter = new QSplitter(Qt::Vertical, this);
    m_mainSplitter->setObjectName(QStringLiteral("mainSplitter"));
    m_mainSplitter->addWidget(m_connectionsView);
    m_mainSplitter->addWidget(m_bottomSplitter);
    m_mainSplitter->setStretchFactor(0, 2);
    m_mainSplitter->setStretchFactor(1, 3);

    m_rawClient = new RawClientPanel(this);
    m_rawClient->setObjectName(QStringLiteral("rawClient"));
    m_rawClientDock = new QDockWidget(tr("Raw client"), this);
    m_rawClientDock->setObjectName(QStringLiteral("rawClientDock"));
    m_rawClientDock->setWidget(m_rawClient);
    addDockWidget(Qt::RightDockWidgetArea, m_rawClientDock);
    m_rawClientDock->hide();

    m_banner = new QLabel(this);
    m_banner->setObjectName(QStringLiteral("banner"));
    m_banner->setWordWrap(true);
    m_banner->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_banner->hide();

    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    layout->addWidget(m_banner);
    layout->addWidget(m_mainSplitter, 1);
    setCentralWidget(central);

    connect(m_connectionsView->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &MainWindow::onConnectionSelected);
    connect(m_exchangesView->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &MainWindow::onExchangeSelected);
    followNewRows(m_connectionsView, &m_followConnections);
    followNewRows(m_exchangesView, &m_followExchanges);
}

void MainWindow::buildStatusBar()
{
    const auto label = [this](const QString &name) {
        auto *l = new QLabel(this);
        l->setObjectName(name);
        return l;
    };
    m_remoteWarning = label(QStringLiteral("remoteWarning"));
    m_remoteWarning->setStyleSheet(errorStyle());
    m_remoteWarning->hide();
    m_pausedLabel = label(QStringLiteral("pausedLabel"));
    m_pausedLabel->setText(tr("Capture paused: forwarding goes on, nothing new is recorded"));
    m_pausedLabel->setStyleSheet(warningStyle());
    m_pausedLabel->hide();
    m_statusListening = label(QStringLiteral("statusListening"));
    m_statusConnections = label(QStringLiteral("statusConnections"));
    m_statusTraffic = label(QStringLiteral("statusTraffic"));
    m_statusCapture = label(QStringLiteral("statusCapture"));
    statusBar()->addWidget(m_remoteWarning);
    statusBar()->addWidget(m_pausedLabel);
    statusBar()->addWidget(m_statusListening);
    statusBar()->addPermanentWidget(m_statusConnections);
    statusBar()->addPermanentWidget(m_statusTraffic);
    statusBar()->addPermanentWidget(m_statusCapture);
}

void MainWindow::buildMenus()
{
    QMenu *proxy = menuBar()->addMenu(tr("&Proxy"));
    proxy->addAction(m_startStop);
    proxy->addAction(m_clear);
    proxy->addAction(m_export);
    proxy->addSeparator();
    QAction *quit = proxy->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    QMenu *view = menuBar()->addMenu(tr("&View"));
    view->addAction(m_pause);
    view->addAction(m_allExchanges);
    view->addAction(m_focusFilter);
    QAction *rawClient = m_rawClientDock->toggleViewAction();
    rawClient->setObjectName(QStringLiteral("showRawClient"));
    rawClient->setShortcut(Qt::CTRL | Qt::Key_T);
    rawClient->setToolTip(tr("A client you drive by hand: send, shut down writing, reset (Ctrl+T)"));
    view->addAction(rawClient);
    findChild<QToolBar *>(QStringLiteral("proxyToolBar"))->insertAction(m_clear, rawClient);
    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About proxymon"), this, [this] {
        QMessageBox::about(this, tr("About proxymon"),
                           tr("<h3>proxymon %1</h3>"
                              "<p>A TCP proxy monitor: it forwards every byte between your client and "
                              "its server, exactly, and shows each connection and HTTP exchange as it "
                              "happens.</p><p>Built with Qt %2.</p>")
                               .arg(QStringLiteral(PROXYMON_VERSION), QStringLiteral(QT_VERSION_STR)));
    });
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

void MainWindow::installColumnMenu(QTableView *view)
{
    QHeaderView *header = view->horizontalHeader();
    header->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(header, &QHeaderView::customContextMenuRequested, view, [view, header](const QPoint &at) {
        QMenu menu;
        QAbstractItemModel *model = view->model();
        for (int column = 0; column < model->columnCount(); ++column) {
            QAction *action = menu.addAction(model->headerData(column, Qt::Horizontal).toString());
            action->setCheckable(true);
            action->setChecked(!header->isSectionHidden(column));
            QObject::connect(action, &QAction::toggled, header, [header, column](bool shown) {
                header->setSectionHidden(column, !shown);
            });
        }
        // The column under the pointer moves one place either way; dragging
        // a header does the same.
        const int clicked = header->logicalIndexAt(at);
        if (clicked >= 0) {
            const QString name = model->headerData(clicked, Qt::Horizontal).toString();
            const int visual = header->visualIndex(clicked);
            menu.addSeparator();
            QAction *left = menu.addAction(QObject::tr("Move “%1” left").arg(name), header, [header, clicked] {
                const int from = header->visualIndex(clicked);
                header->moveSection(from, from - 1);
            });
            left->setEnabled(visual > 0);
            QAction *right = menu.addAction(QObject::tr("Move “%1” right").arg(name), header, [header, clicked] {
                const int from = header->visualIndex(clicked);
                header->moveSection(from, from + 1);
            });
            right->setEnabled(visual < header->count() - 1);
        }
        menu.addSeparator();
        menu.addAction(QObject::tr("Show all columns"), header, [header, model] {
            for (int column = 0; column < model->columnCount(); ++column)
                header->setSectionHidden(column, false);
        });
        menu.addAction(QObject::tr("Original order"), header, [header] {
            for (int logical = 0; logical < header->count(); ++logical)
                header->moveSection(header->visualIndex(logical), logical);
        });
        menu.exec(header->mapToGlobal(at));
    });
}

void MainWindow::followNewRows(QTableView *view, bool *follow)
{
    // New rows scroll into view while the user is at the bottom; scrolling
    // away stops that, scrolling back to the bottom resumes it.
    QScrollBar *bar = view->verticalScrollBar();
    connect(bar, &QScrollBar::valueChanged, view, [bar, follow](int value) { *follow = value >= bar->maximum(); });
    connect(bar, &QScrollBar::rangeChanged, view, [bar, follow](int, int maximum) {
        if (*follow)
            bar->setValue(maximum);
    });
}

void MainWindow::restoreSettings()
{
    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    if (!settings.contains(QStringLiteral("window/geometry")))
        resize(1200, 760);
    restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
    m_mainSplitter->restoreState(settings.value(QStringLiteral("window/mainSplitter")).toByteArray());
    m_bottomSplitter->restoreState(settings.value(QStringLiteral("window/bottomSplitter")).toByteArray());
    m_connectionsView->horizontalHeader()->restoreState(
        settings.value(QStringLiteral("connections/header")).toByteArray());
    m_exchangesView->horizontalHeader()->restoreState(settings.value(QStringLiteral("exchanges/header")).toByteArray());
    m_allExchanges->setChecked(settings.value(QStringLiteral("exchanges/allConnections"), false).toBool());
    m_listenEdit->setText(settings.value(QStringLiteral("proxy/listen"), QStringLiteral("127.0.0.1:8080")).toString());
    ProxyConfig scratch;
    QString ignored;
    if (scratch.setMode(settings.value(QStringLiteral("proxy/mode")).toString(), &ignored))
        m_modeCombo->setCurrentIndex(m_modeCombo->findData(int(scratch.mode)));
    m_allowEdit->setText(settings.value(QStringLiteral("proxy/allow")).toString());
    QStringList recent = settings.value(QStringLiteral("proxy/recentTargets")).toStringList();
    // The built-in echo server is always one click away.
    if (!recent.contains(QLatin1String(BuiltinEcho::Name)))
        recent.append(QLatin1String(BuiltinEcho::Name));
    m_targetCombo->addItems(recent);
    m_targetCombo->setEditText(settings.value(QStringLiteral("proxy/target"), recent.value(0)).toString());
}

void MainWindow::saveSettings() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    settings.setValue(QStringLiteral("window/mainSplitter"), m_mainSplitter->saveState());
    settings.setValue(QStringLiteral("window/bottomSplitter"), m_bottomSplitter->saveState());
    settings.setValue(QStringLiteral("connections/header"), m_connectionsView->horizontalHeader()->saveState());
    settings.setValue(QStringLiteral("exchanges/header"), m_exchangesView->horizontalHeader()->saveState());
    settings.setValue(QStringLiteral("exchanges/allConnections"), m_allExchanges->isChecked());
    settings.setValue(QStringLiteral("proxy/listen"), m_listenEdit->text());
    settings.setValue(QStringLiteral("proxy/mode"), ProxyConfig::modeName(selectedMode()));
    settings.setValue(QStringLiteral("proxy/allow"), m_allowEdit->text());
    settings.setValue(QStringLiteral("proxy/target"), m_targetCombo->currentText());
    QStringList recent;
    for (int i = 0; i < m_targetCombo->count(); ++i)
        recent.append(m_targetCombo->itemText(i));
    settings.setValue(QStringLiteral("proxy/recentTargets"), recent);
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    saveSettings();
    m_server->stop();
    QMainWindow::closeEvent(event);
}

void MainWindow::setListenText(const QString &text)
{
    m_listenEdit->setText(text);
}

void MainWindow::setTargetText(const QString &text)
{
    m_targetCombo->setEditText(text);
}

bool MainWindow::isListening() const
{
    return m_server->isListening();
}

ProxyConfig::Mode MainWindow::selectedMode() const
{
    return ProxyConfig::Mode(m_modeCombo->currentData().toInt());
}

void MainWindow::validateInputs()
{
    ProxyConfig scratch;
    scratch.mode = selectedMode();
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
    m_targetLabelAction->setVisible(!proxyMode);
    m_targetAction->setVisible(!proxyMode);
    m_allowLabelAction->setVisible(remote || !m_allowEdit->text().isEmpty());
    m_allowAction->setVisible(remote || !m_allowEdit->text().isEmpty());
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
    m_inputsValid = listenOk && targetOk && allowOk;
    m_inputProblem->setText(problems.join(QStringLiteral("  ·  ")));
    const QString bad = QStringLiteral("QLineEdit { border: 1px solid #b3261e; }");
    m_listenEdit->setStyleSheet(listenOk ? QString() : bad);
    m_targetCombo->setStyleSheet(targetOk ? QString() : QStringLiteral("QComboBox { border: 1px solid #b3261e; }"));
    if (!m_server->isListening())
        m_startStop->setEnabled(m_inputsValid);
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
    validateInputs();
    if (!m_inputsValid) {
        showBanner(tr("Cannot start: %1").arg(m_inputProblem->text()), true);
        return;
    }
    ProxyConfig config = m_engine;
    QString error;
    config.mode = selectedMode();
    const bool proxyMode = config.mode == ProxyConfig::Mode::HttpProxy;
    config.setListen(m_listenEdit->text().trimmed(), &error);
    config.setAllowedClients(m_allowEdit->text(), &error);
    if (proxyMode) {
        config.targetHost.clear();
        config.builtinEcho = false;
    } else {
        config.setTarget(m_targetCombo->currentText().trimmed(), &error);
    }
    if (!config.listensOnLoopbackOnly()) {
        const QString reach = proxyMode ? tr("use proxymon as their HTTP proxy") : tr("use proxymon to reach %1")
                                                                                      .arg(config.targetText());
        const QString who = config.allowedClients.isEmpty()
            ? tr("any machine that can connect")
            : tr("only %1").arg(config.allowedClientsText());
        const auto answer = QMessageBox::warning(
            this, tr("Listen beyond this machine?"),
            tr("Listening on %1 lets other machines %2 (%3), and shows you their traffic. "
               "Listen there anyway?")
                .arg(config.listenText(), reach, who),
            QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel);
        if (answer != QMessageBox::Yes)
            return;
        config.allowNonLoopback = true;
    }
    if (!m_server->start(config)) {
        showBanner(tr("Could not start: %1").arg(m_server->errorString()), true);
        onListeningChanged(false);
        return;
    }
    m_banner->hide();
    if (!proxyMode)
        rememberTarget(config.targetText());
    saveSettings();
}

void MainWindow::stopProxy()
{
    m_server->stop();
}

void MainWindow::clearCapture()
{
    m_store.clear();
    m_detail->showNothing(tr("Select a connection or an exchange."));
    m_followConnections = true;
    m_followExchanges = true;
    updateStatus();
}

bool MainWindow::exportTo(const QString &path)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        showBanner(tr("Could not export to %1: %2").arg(path, file.errorString()), true);
        return false;
    }
    const CaptureExport::Counts counts
        = CaptureExport::toJsonl(m_store, CaptureFilter::parse(m_filterEdit->text()), &file);
    if (!file.commit()) {
        showBanner(tr("Could not export to %1: %2").arg(path, file.errorString()), true);
        return false;
    }
    statusBar()->showMessage(tr("Exported %1 connections and %2 exchanges to %3")
                                 .arg(counts.connections)
                                 .arg(counts.exchanges)
                                 .arg(path),
                             8000);
    return true;
}

void MainWindow::rememberTarget(const QString &target)
{
    const int existing = m_targetCombo->findText(target);
    if (existing >= 0)
        m_targetCombo->removeItem(existing);
    m_targetCombo->insertItem(0, target);
    while (m_targetCombo->count() > RecentTargets)
        m_targetCombo->removeItem(m_targetCombo->count() - 1);
    m_targetCombo->setCurrentIndex(0);
}

void MainWindow::onListeningChanged(bool listening)
{
    // The buttons follow what the server says, not what was asked of it.
    listening = m_server->isListening();
    m_startStop->setText(listening ? tr("Stop") : tr("Start"));
    m_startStop->setIcon(style()->standardIcon(listening ? QStyle::SP_MediaStop : QStyle::SP_MediaPlay));
    m_startStop->setToolTip(listening ? tr("Stop listening; live connections end after a short grace (F5)")
                                      : tr("Listen and forward to the target (F5)"));
    m_startStop->setEnabled(listening || m_inputsValid);
    m_listenEdit->setEnabled(!listening);
    m_targetCombo->setEnabled(!listening);
    m_modeCombo->setEnabled(!listening);
    m_allowEdit->setEnabled(!listening);
    const ProxyConfig config = m_server->config();
    const bool remote = listening && !config.listensOnLoopbackOnly();
    m_remoteWarning->setText(tr("Listening on %1: reachable from other machines").arg(config.listenText()));
    m_remoteWarning->setVisible(remote);
    if (listening) {
        // The server's config holds the port it really listens on.
        const QString where = config.listenText();
        const QString to = config.mode == ProxyConfig::Mode::HttpProxy ? tr("HTTP proxy") : config.targetText();
        m_statusListening->setText(tr("Listening on %1 → %2").arg(where, to));
        m_rawClient->setDefaultTarget(where);
        setWindowTitle(tr("proxymon — %1 → %2").arg(where, to));
    } else {
        m_statusListening->setText(tr("Stopped"));
        setWindowTitle(tr("proxymon"));
    }
}

void MainWindow::onPublished(const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges)
{
    for (const ConnectionRecord &record : records) {
        auto it = m_liveBytes.find(record.id);
        const auto before = it == m_liveBytes.end() ? std::pair<quint64, quint64>(0, 0) : *it;
        m_bytesUp += record.bytesUp - before.first;
        m_bytesDown += record.bytesDown - before.second;
        if (record.isClosed())
            m_liveBytes.remove(record.id);
        else
            m_liveBytes.insert(record.id, {record.bytesUp, record.bytesDown});
    }
    if (!m_pause->isChecked()) {
        m_store.add(records, exchanges);
        return;
    }
    // Paused: the connections already listed still move on; nothing new.
    QList<ConnectionRecord> known;
    for (const ConnectionRecord &record : records) {
        if (m_store.connectionRow(record.id) >= 0)
            known.append(record);
    }
    if (!known.isEmpty())
        m_store.add(known, {});
}

void MainWindow::onConnectionSelected()
{
    const QModelIndex current = m_connectionsView->currentIndex();
    const quint64 id = current.isValid() ? current.data(ConnectionTableModel::IdRole).toULongLong() : 0;
    m_exchangeFilter->setConnection(m_allExchanges->isChecked() ? 0 : (id ? id : ~quint64(0)));
    if (!id)
        return;
    const qsizetype row = m_store.connectionRow(id);
    if (row >= 0 && m_store.connectionAt(row).raw) {
        m_detail->showRawConnection(m_store.connectionAt(row));
        return;
    }
    if (!m_allExchanges->isChecked() && m_exchangeFilter->rowCount() > 0)
        m_exchangesView->setCurrentIndex(m_exchangeFilter->index(0, 0));
    else if (!m_allExchanges->isChecked())
        m_detail->showNothing(tr("Connection %1 has no HTTP exchange (yet).").arg(id));
}

void MainWindow::onExchangeSelected()
{
    const QModelIndex current = m_exchangesView->currentIndex();
    if (!current.isValid())
        return;
    const QModelIndex source = m_exchangeFilter->mapToSource(current);
    if (source.row() < m_store.exchangeCount())
        m_detail->showExchange(m_store.exchangeAt(source.row()));
}

void MainWindow::applyFilter()
{
    QString error;
    const CaptureFilter filter = CaptureFilter::parse(m_filterEdit->text(), &error);
    m_connectionFilter->setFilter(filter);
    m_exchangeFilter->setFilter(filter);
    m_filterEdit->setStyleSheet(error.isEmpty() ? QString() : QStringLiteral("QLineEdit { border: 1px solid #b06000; }"));
    m_filterEdit->setToolTip(error.isEmpty() ? QString() : error);
    if (!error.isEmpty())
        statusBar()->showMessage(tr("Filter: %1").arg(error), 5000);
}

void MainWindow::updateStatus()
{
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (m_lastRateMs && now - m_lastRateMs >= 1000) {
        const double seconds = double(now - m_lastRateMs) / 1000.0;
        m_rateUp = double(m_bytesUp - m_lastBytesUp) / seconds;
        m_rateDown = double(m_bytesDown - m_lastBytesDown) / seconds;
    }
    if (!m_lastRateMs || now - m_lastRateMs >= 1000) {
        m_lastRateMs = now;
        m_lastBytesUp = m_bytesUp;
        m_lastBytesDown = m_bytesDown;
    }
    m_statusConnections->setText(tr("%1 live · %2 total").arg(m_server->liveConnections()).arg(m_server->acceptedConnections()));
    m_statusTraffic->setText(tr("↑ %1 (%2)  ↓ %3 (%4)")
                                 .arg(DisplayText::bytes(m_bytesUp), DisplayText::rate(m_rateUp),
                                      DisplayText::bytes(m_bytesDown), DisplayText::rate(m_rateDown)));
    const CaptureStore::Stats &stats = m_store.stats();
    QString capture = tr("Capture %1 of %2 · %3 exchanges")
                          .arg(DisplayText::bytes(quint64(stats.bytes)),
                               DisplayText::bytes(quint64(m_store.limits().maxBytes)))
                          .arg(m_store.exchangeCount());
    if (stats.evictedConnections || stats.evictedExchanges)
        capture += tr(" · evicted %1 connections, %2 exchanges").arg(stats.evictedConnections).arg(stats.evictedExchanges);
    m_statusCapture->setText(capture);
}

void MainWindow::showBanner(const QString &text, bool error)
{
    m_banner->setText(text);
    m_banner->setStyleSheet(error ? errorStyle() : warningStyle());
    m_banner->show();
}
