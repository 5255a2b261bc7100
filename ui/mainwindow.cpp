#include "mainwindow.h"

#include "bannerstyle.h"
#include "builtinecho.h"
#include "endpoint.h"
#include "passthroughbar.h"
#include "tlsinterception.h"
#include "batchintake.h"
#include "captureactions.h"
#include "conditionspanel.h"
#include "connectionlifeview.h"
#include "captureexport.h"
#include "capturefilejob.h"
#include "catrustdialog.h"
#include "harwriter.h"
#include "pcapngwriter.h"
#include "replayclient.h"
#include "requestcomposer.h"
#include "sparklinedelegate.h"
#include "waterfalldelegate.h"
#include "sessionreader.h"
#include "connectionfiltermodel.h"
#include "connectiontablemodel.h"
#include "displaytext.h"
#include "exchangedetailview.h"
#include "exchangefiltermodel.h"
#include "exchangetablemodel.h"
#include "proxycontrols.h"
#include "proxyserver.h"
#include "proxystatusbar.h"
#include "rawclientpanel.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDateTime>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QHeaderView>
#include <QHostAddress>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QRegularExpression>
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

constexpr int EngineNiceness = 3;

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
    m_server->setEchoStarter(BuiltinEcho::starter());
    setWindowTitle(tr("proxymon"));
    setWindowIcon(QIcon(QStringLiteral(":/proxymon/icons/proxymon.svg")));
    m_connectionFilter->setSourceModel(m_connectionModel);
    m_exchangeFilter->setSourceModel(m_exchangeModel);

    buildActions();
    buildToolBar();
    buildViews();
    m_status = new ProxyStatusBar(m_server, &m_store, this);
    setStatusBar(m_status);
    buildMenus();

    m_intake = new BatchIntake([this](const QList<ConnectionRecord> &records, const QList<HttpExchange> &exchanges) {
        takeBatch(records, exchanges);
    }, this);
    connect(m_server, &ProxyServer::published, m_intake, &BatchIntake::push);
    connect(m_server, &ProxyServer::listeningChanged, this, &MainWindow::onListeningChanged);
    connect(m_server, &ProxyServer::notice, this, [this](const QString &message) {
        showBanner(message, false);
    });
    m_filterDelay.setSingleShot(true);
    m_filterDelay.setInterval(150);
    connect(&m_filterDelay, &QTimer::timeout, this, &MainWindow::applyFilter);

    restoreSettings();
    if (!engine.targetHost.isEmpty() || engine.mode == ProxyConfig::Mode::HttpProxy) {
        setListenText(engine.listenText());
        m_controls->setMode(engine.mode);
        m_controls->setAllowText(engine.allowedClientsText());
    }
    if (!engine.targetHost.isEmpty())
        setTargetText(engine.targetText());
    onListeningChanged(false);
    onConnectionSelected(); // the exchange list starts in step with the selection (none)
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
    m_startStop = new QAction(this);
    m_startStop->setObjectName(QStringLiteral("startStop"));
    m_startStop->setShortcut(Qt::Key_F5);
    connect(m_startStop, &QAction::triggered, this, &MainWindow::toggleProxy);

    m_clear = new QAction(style()->standardIcon(QStyle::SP_DialogResetButton), tr("Clear"), this);
    m_clear->setObjectName(QStringLiteral("clear"));
    m_clear->setShortcut(Qt::CTRL | Qt::Key_L);
    m_clear->setToolTip(tr("Forget the captured connections and exchanges (Ctrl+L)"));
    connect(m_clear, &QAction::triggered, this, &MainWindow::clearCapture);

    m_export = new QAction(tr("Export as JSON Lines…"), this);
    m_export->setObjectName(QStringLiteral("export"));
    m_export->setShortcut(Qt::CTRL | Qt::SHIFT | Qt::Key_E);
    m_export->setToolTip(tr("Save the connections and exchanges the lists show as JSON Lines, "
                            "the format of the headless --jsonl stream (Ctrl+Shift+E)"));
    connect(m_export, &QAction::triggered, this, [this] {
        askExport(CaptureSelection(CaptureFilter::parse(m_filterEdit->text())), QStringLiteral("jsonl"));
    });
    m_exportHar = new QAction(tr("Export as HAR…"), this);
    m_exportHar->setObjectName(QStringLiteral("exportHar"));
    m_exportHar->setToolTip(tr("Save the HTTP exchanges the lists show as HAR 1.2, for browser devtools and HAR viewers"));
    connect(m_exportHar, &QAction::triggered, this, [this] {
        askExport(CaptureSelection(CaptureFilter::parse(m_filterEdit->text())), QStringLiteral("har"));
    });
    m_exportPcapng = new QAction(tr("Export as pcapng…"), this);
    m_exportPcapng->setObjectName(QStringLiteral("exportPcapng"));
    m_exportPcapng->setToolTip(tr("Save the connections the lists show as pcapng for Wireshark: both legs of each, "
                                  "their bytes in TCP that proxymon synthesizes"));
    connect(m_exportPcapng, &QAction::triggered, this, [this] {
        askExport(CaptureSelection(CaptureFilter::parse(m_filterEdit->text())), QStringLiteral("pcapng"));
    });
    m_saveSession = new QAction(style()->standardIcon(QStyle::SP_DialogSaveButton), tr("Save session…"), this);
    m_saveSession->setObjectName(QStringLiteral("saveSession"));
    m_saveSession->setShortcut(QKeySequence::Save);
    m_saveSession->setToolTip(tr("Save the whole capture, bodies and all, to open again later (Ctrl+S)"));
    connect(m_saveSession, &QAction::triggered, this, [this] { askExport(CaptureSelection(), QStringLiteral("session")); });
    m_openSession = new QAction(style()->standardIcon(QStyle::SP_DialogOpenButton), tr("Open…"), this);
    m_openSession->setObjectName(QStringLiteral("openSession"));
    m_openSession->setShortcut(QKeySequence::Open);
    m_openSession->setToolTip(tr("Show a saved session, a headless JSONL stream or a HAR file (Ctrl+O)"));
    connect(m_openSession, &QAction::triggered, this, &MainWindow::askOpen);

    m_pause = new QAction(style()->standardIcon(QStyle::SP_MediaPause), tr("Pause capture"), this);
    m_pause->setObjectName(QStringLiteral("pauseCapture"));
    m_pause->setCheckable(true);
    m_pause->setShortcut(Qt::Key_F12);
    m_pause->setToolTip(tr("Stop recording new connections and exchanges; forwarding goes on (F12)"));
    connect(m_pause, &QAction::toggled, this, [this](bool paused) { m_status->setPaused(paused); });

    m_decrypt = new QAction(style()->standardIcon(QStyle::SP_DialogYesButton), tr("Decrypt HTTPS"), this);
    m_decrypt->setObjectName(QStringLiteral("decryptAction"));
    m_decrypt->setCheckable(true);
    m_decrypt->setChecked(m_engine.decrypt);
    m_decrypt->setToolTip(tr("Read inside the TLS of clients that trust proxymon's CA (Proxy → Trust proxymon's CA…); "
                             "off: relay TLS unread"));
    connect(m_decrypt, &QAction::toggled, this, [this](bool on) {
        m_engine.decrypt = on;
        m_server->setDecryption(on);
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

    m_controls = new ProxyControls(bar);
    bar->addWidget(m_controls);
    bar->addSeparator();
    bar->addAction(m_pause);
    bar->addAction(m_decrypt);
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

    connect(m_controls, &ProxyControls::edited, this, &MainWindow::onInputsEdited);
    connect(m_controls, &ProxyControls::startRequested, this, &MainWindow::startProxy);
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
    m_connectionsView->setColumnWidth(ConnectionTableModel::Life, 150);
    m_connectionsView->setColumnWidth(ConnectionTableModel::Activity, 110);
    m_connectionsView->setItemDelegateForColumn(ConnectionTableModel::Activity, new SparklineDelegate(m_connectionsView));
    m_connectionsView->setColumnWidth(ConnectionTableModel::Tls, 110);
    m_connectionsView->setColumnWidth(ConnectionTableModel::Waterfall, 280);
    m_connectionsView->setItemDelegateForColumn(ConnectionTableModel::Waterfall,
                                                new WaterfallDelegate(&m_store, m_connectionFilter, m_connectionsView));
    connect(m_connectionModel, &ConnectionTableModel::clockMoved, m_connectionsView->viewport(),
            qOverload<>(&QWidget::update));
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

    m_conditions = new ConditionsPanel(this);
    m_conditions->setObjectName(QStringLiteral("conditionsPanel"));
    m_conditions->showRules(m_engine.rules);
    m_conditionsDock = new QDockWidget(tr("Conditions and faults"), this);
    m_conditionsDock->setObjectName(QStringLiteral("conditionsDock"));
    m_conditionsDock->setWidget(m_conditions);
    addDockWidget(Qt::RightDockWidgetArea, m_conditionsDock);
    m_conditionsDock->hide();
    connect(m_conditions, &ConditionsPanel::applied, this, [this](const RuleSet &rules) {
        m_engine.rules = rules;
        if (m_server->isListening())
            m_server->setRules(rules);
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
    layout->addWidget(m_mainSplitter, 1);
    setCentralWidget(central);

    connect(m_connectionsView->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &MainWindow::onConnectionSelected);
    connect(m_exchangesView->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &MainWindow::onExchangeSelected);
    m_actions = new CaptureActions(&m_store, m_server, m_connectionsView, m_exchangesView, m_exchangeFilter, this);
    connect(m_actions, &CaptureActions::filterRequested, this, [this](const QString &text) {
        m_filterEdit->setText(text);
        applyFilter();
    });
    connect(m_actions, &CaptureActions::exportRequested, this, &MainWindow::askExport);
    connect(m_actions, &CaptureActions::resendRequested, this, &MainWindow::resend);
    connect(m_actions, &CaptureActions::message, this, [this](const QString &text) {
        statusBar()->showMessage(text, 6000);
    });
    m_connectionsView->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_connectionsView, &QWidget::customContextMenuRequested, this, &MainWindow::showConnectionMenu);
    m_exchangesView->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_exchangesView, &QWidget::customContextMenuRequested, m_actions, &CaptureActions::showExchangeMenu);
    followNewRows(m_connectionsView, &m_followConnections);
    followNewRows(m_exchangesView, &m_followExchanges);
}

void MainWindow::buildMenus()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    file->addAction(m_openSession);
    file->addAction(m_saveSession);
    file->addSeparator();
    file->addAction(m_exportHar);
    file->addAction(m_exportPcapng);
    file->addAction(m_export);
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    QMenu *proxy = menuBar()->addMenu(tr("&Proxy"));
    proxy->addAction(m_startStop);
    proxy->addAction(m_clear);
    proxy->addSeparator();
    QAction *trust = proxy->addAction(tr("&Trust proxymon's CA…"), this, [this] {
        auto *dialog = new CaTrustDialog(this);
        dialog->setAttribute(Qt::WA_DeleteOnClose);
        dialog->open();
    });
    trust->setObjectName(QStringLiteral("trustCa"));
    trust->setToolTip(tr("Where proxymon's certificate authority is, and how to make clients trust it"));
    proxy->addAction(m_decrypt);
    m_keyLog = proxy->addAction(tr("Write TLS &key log…"));
    m_keyLog->setObjectName(QStringLiteral("keyLogAction"));
    m_keyLog->setCheckable(true);
    m_keyLog->setToolTip(tr("Append the secrets of both TLS legs to a file Wireshark reads (NSS key log format); "
                            "anyone who reads it can decrypt the traffic"));
    connect(m_keyLog, &QAction::triggered, this, [this](bool on) {
        if (!on) {
            setKeyLogFile(QString());
            return;
        }
        const QString path = QFileDialog::getSaveFileName(this, tr("TLS key log"),
                                                          QDir::home().filePath(QStringLiteral("proxymon-keys.log")));
        setKeyLogFile(path);
    });
    m_actions->fillMenu(menuBar()->addMenu(tr("&Exchange")));
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
    QAction *conditions = m_conditionsDock->toggleViewAction();
    conditions->setObjectName(QStringLiteral("showConditions"));
    conditions->setText(tr("&Conditions and faults"));
    conditions->setToolTip(tr("Slow the network down (a browser's preset, latency, bandwidth) or break "
                              "connections on purpose (resets, stalls, limits)"));
    proxy->addSeparator();
    proxy->addAction(conditions);
    findChild<QToolBar *>(QStringLiteral("proxyToolBar"))->insertAction(m_clear, conditions);
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
    m_controls->restore(settings);
    m_conditions->restore(settings);
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
        m_startStop->setEnabled(m_controls->isValid());
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
    if (m_fileBusy)
        return;
    if (!m_openedFile.isEmpty()) {
        // The file stays on disk; the lists now follow the live capture.
        m_intake->clear();
        m_store.clear();
        m_origins.clear();
        m_openedFile.clear();
    }
    ProxyConfig config = m_engine;
    m_controls->applyTo(&config);
    config.decrypt = m_decrypt->isChecked();
    // The engine's workers a step below this thread (see ProxyConfig):
    // with 9,900 live connections on two busy cores the longest stall went
    // from 27-60 ms to 30-49 ms over seven runs each; the window's own
    // keep-alive throughput under that saturation gave about a tenth to
    // the load generators beside it.
    config.workerNiceness = EngineNiceness;
    for (const QString &host : m_passthroughBar->excluded()) {
        if (!config.passthroughHosts.contains(host, Qt::CaseInsensitive))
            config.passthroughHosts.append(host);
    }
    const bool proxyMode = config.mode == ProxyConfig::Mode::HttpProxy;
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
        m_controls->rememberTarget(config.targetText());
    saveSettings();
}

void MainWindow::stopProxy()
{
    m_server->stop();
}

void MainWindow::clearCapture()
{
    if (m_fileBusy)
        return; // a file is being written from the store; the progress dialog says so
    m_intake->clear();
    m_store.clear();
    m_origins.clear();
    m_unsaved = false;
    if (!m_openedFile.isEmpty())
        setShownFile(QString());
    m_detail->showNothing(tr("Select a connection or an exchange."));
    m_detail->lifeView()->showNothing();
    m_followConnections = true;
    m_followExchanges = true;
    m_status->refresh();
}

bool MainWindow::exportTo(const QString &path)
{
    return writeCapture(path, QStringLiteral("jsonl"), CaptureSelection(CaptureFilter::parse(m_filterEdit->text())));
}

void MainWindow::onListeningChanged(bool listening)
{
    // The buttons follow what the server says, not what was asked of it.
    listening = m_server->isListening();
    m_startStop->setText(listening ? tr("Stop") : tr("Start"));
    m_startStop->setIcon(style()->standardIcon(listening ? QStyle::SP_MediaStop : QStyle::SP_MediaPlay));
    m_startStop->setToolTip(listening ? tr("Stop listening; live connections end after a short grace (F5)")
                                      : tr("Listen and forward to the target (F5)"));
    m_startStop->setEnabled(listening || m_controls->isValid());
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
    if (!m_resendClients.isEmpty()) {
        for (const ConnectionRecord &record : records) {
            const auto found = m_resendClients.constFind(record.client);
            if (found != m_resendClients.cend()) {
                m_origins.insert(record.id, *found);
                m_resendClients.erase(found);
            }
        }
    }
    if (!m_pause->isChecked()) {
        m_unsaved = m_unsaved || !records.isEmpty();
        m_store.add(records, exchanges);
        followShownConnection(records);
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
        followShownConnection(known);
    }
}

void MainWindow::followShownConnection(const QList<ConnectionRecord> &records)
{
    // The connection whose life is on screen moves on with its records.
    const quint64 shown = m_detail->lifeView()->shownId();
    if (shown == 0)
        return;
    for (const ConnectionRecord &record : records) {
        if (record.id != shown)
            continue;
        const qsizetype row = m_store.connectionRow(shown);
        if (row >= 0)
            m_detail->updateConnection(m_store.connectionAt(row), m_store.rateHistory(shown));
        return;
    }
}

void MainWindow::onConnectionSelected()
{
    const QModelIndex current = m_connectionsView->currentIndex();
    const quint64 id = current.isValid() ? current.data(ConnectionTableModel::IdRole).toULongLong() : 0;
    m_exchangeFilter->setConnection(m_allExchanges->isChecked() ? 0 : (id ? id : ~quint64(0)));
    if (!id)
        return;
    const qsizetype row = m_store.connectionRow(id);
    if (row >= 0)
        m_detail->showConnection(m_store.connectionAt(row), m_store.rateHistory(id));
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
    if (source.row() >= m_store.exchangeCount())
        return;
    const HttpExchange &exchange = m_store.exchangeAt(source.row());
    const qsizetype row = m_store.connectionRow(exchange.connectionId);
    m_detail->showExchange(exchange, row >= 0 ? originOf(m_store.connectionAt(row)) : QString());
    if (row >= 0)
        m_detail->showConnection(m_store.connectionAt(row), m_store.rateHistory(exchange.connectionId));
}

void MainWindow::setKeyLogFile(const QString &path)
{
    // Off by default: the file decrypts everything it covers.
    m_engine.keyLogFile = path;
    m_keyLog->setChecked(!path.isEmpty());
    if (!path.isEmpty() && isListening())
        statusBar()->showMessage(tr("The key log starts with the next start of the proxy"), 8000);
}

void MainWindow::showConnectionMenu(const QPoint &at)
{
    const QModelIndex index = m_connectionsView->indexAt(at);
    if (!index.isValid())
        return;
    const qsizetype row = m_store.connectionRow(index.data(ConnectionTableModel::IdRole).toULongLong());
    if (row < 0)
        return;
    const ConnectionRecord record = m_store.connectionAt(row);
    // The name the client asked for, else the host it reached.
    QString host = record.clientTls.serverName;
    Endpoint upstream;
    QString ignored;
    if (host.isEmpty() && Endpoint::parse(QString(record.upstream).remove(QRegularExpression(QStringLiteral("^tls:"))),
                                          &upstream, &ignored))
        host = upstream.host;
    // The TLS items for this connection's host, above the common ones.
    QObject holder;
    QList<QAction *> extra;
    if (!host.isEmpty()) {
        TlsInterception &interception = m_server->interception();
        const bool excluded = interception.listed(TlsInterception::Hosts::Passthrough, host)
            || record.decryption == ConnectionRecord::Decryption::Rejected;
        const auto item = [&](const QString &text, auto slot) {
            auto *action = new QAction(text, &holder);
            connect(action, &QAction::triggered, this, slot);
            extra.append(action);
        };
        if (excluded)
            item(tr("Decrypt %1 again").arg(host), [this, host] { m_passthroughBar->undo(QStringLiteral("decrypt:") + host); });
        else
            item(tr("Don't decrypt %1").arg(host), [this, host] { m_passthroughBar->exclude(host); });
        if (record.error.contains(QLatin1String("certificate"))
            && !interception.listed(TlsInterception::Hosts::Insecure, host)) {
            item(tr("Relay %1 despite its certificate").arg(host), [&interception, host] {
                interception.addHost(TlsInterception::Hosts::Insecure, host);
            });
        }
    }
    m_actions->showConnectionMenu(at, extra);
}

void MainWindow::askExport(const CaptureSelection &selection, const QString &format)
{
    const QString name = format == u"har" ? QStringLiteral("proxymon-capture.har")
        : format == u"pcapng"             ? QStringLiteral("proxymon-capture.pcapng")
        : format == u"session"            ? QStringLiteral("proxymon-session.jsonl")
                                          : QStringLiteral("proxymon-capture.jsonl");
    const QString filter = format == u"har"  ? tr("HAR (*.har);;All files (*)")
        : format == u"pcapng"                ? tr("pcapng (*.pcapng);;All files (*)")
                                             : tr("JSON Lines (*.jsonl);;All files (*)");
    const QString title = format == u"session" ? tr("Save session") : tr("Export");
    const QString path = QFileDialog::getSaveFileName(this, title, name, filter);
    if (!path.isEmpty())
        writeCapture(path, format, selection);
}

void MainWindow::askOpen()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Open a capture"), QString(),
                                                      tr("Captures (*.jsonl *.har *.json);;All files (*)"));
    if (!path.isEmpty())
        openFile(path);
}

bool MainWindow::writeCapture(const QString &path, const QString &format, const CaptureSelection &selection)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        showBanner(tr("Could not write %1: %2").arg(path, file.errorString()), true);
        return false;
    }
    // The store stands still while the file thread reads it: batches
    // that come meanwhile wait in the intake, and nothing else changes it.
    CaptureExport::Counts counts;
    m_fileBusy = true;
    m_intake->hold(true);
    const QString error = CaptureFileJob::run(this, tr("Writing %1…").arg(QFileInfo(path).fileName()),
                                              [&](const CaptureExport::Progress &progress) {
        const CaptureSnapshot snapshot = CaptureSnapshot::take(m_store, selection);
        if (format == u"har")
            counts = HarWriter::write(snapshot, &file, progress);
        else if (format == u"pcapng")
            counts = PcapngWriter::write(snapshot, &file, progress);
        else if (format == u"session")
            counts = CaptureExport::toSession(snapshot, &file, progress);
        else
            counts = CaptureExport::toJsonl(snapshot, &file, progress);
        if (!counts.complete)
            return file.errorString();
        // Its flush to disk can take a while too.
        return file.commit() ? QString() : file.errorString();
    });
    m_fileBusy = false;
    m_intake->hold(false);
    if (!error.isEmpty()) {
        if (error == u"cancelled") {
            statusBar()->showMessage(tr("Not written: cancelled"), 6000);
            return false;
        }
        showBanner(tr("Could not write %1: %2").arg(path, error.isEmpty() ? file.errorString() : error), true);
        return false;
    }
    if (format == u"session" && !selection.hasPicks())
        m_unsaved = false;
    statusBar()->showMessage(tr("Wrote %1 connections and %2 exchanges to %3")
                                 .arg(counts.connections)
                                 .arg(counts.exchanges)
                                 .arg(path),
                             8000);
    return true;
}

bool MainWindow::saveSession(const QString &path)
{
    return writeCapture(path, QStringLiteral("session"), CaptureSelection());
}

bool MainWindow::openFile(const QString &path, bool askFirst)
{
    if (m_fileBusy)
        return false;
    if (askFirst && m_unsaved && m_store.connectionCount() > 0) {
        const auto answer = QMessageBox::question(
            this, tr("Open a file?"),
            tr("The capture on screen has not been saved. Open %1 in its place?").arg(QFileInfo(path).fileName()),
            QMessageBox::Open | QMessageBox::Cancel, QMessageBox::Cancel);
        if (answer != QMessageBox::Open)
            return false;
    }
    SessionReader::Result result;
    const QString error = CaptureFileJob::run(this, tr("Reading %1…").arg(QFileInfo(path).fileName()),
                                              [&](const CaptureExport::Progress &) {
        result = SessionReader::readFile(path);
        return result.error;
    });
    if (!error.isEmpty()) {
        showBanner(tr("Could not open %1: %2").arg(path, error), true);
        return false;
    }
    // A live capture ends here: what comes next belongs to no file.
    if (m_server->isListening())
        m_server->stop();
    m_intake->clear();
    m_store.clear();
    m_origins.clear();
    // In slices, so that the window paints between them.
    m_store.add(result.records, {});
    constexpr qsizetype Slice = 5000;
    for (qsizetype at = 0; at < result.exchanges.size(); at += Slice) {
        m_store.add({}, result.exchanges.mid(at, Slice));
        QCoreApplication::processEvents(QEventLoop::ExcludeUserInputEvents);
    }
    m_unsaved = false;
    m_banner->hide();
    setShownFile(path);
    m_status->refresh();
    statusBar()->showMessage(tr("Opened %1: %2 connections, %3 exchanges (%4)")
                                 .arg(path)
                                 .arg(result.records.size())
                                 .arg(result.exchanges.size())
                                 .arg(result.kind),
                             8000);
    return true;
}

void MainWindow::setShownFile(const QString &path)
{
    m_openedFile = path;
    onListeningChanged(m_server->isListening());
}

void MainWindow::resend(const HttpExchange &exchange, bool edit)
{
    if (!m_server->isListening()) {
        showBanner(tr("Start the proxy to send a request again: it goes through proxymon's listener, "
                      "so that its answer is captured too"),
                   true);
        return;
    }
    const qsizetype row = m_store.connectionRow(exchange.connectionId);
    const bool clientSpokeTls = row >= 0 && !m_store.connectionAt(row).clientTls.isEmpty();
    const QString origin = tr("resent from connection %1, exchange %2").arg(exchange.connectionId).arg(exchange.sequence);
    const ReplayRequest request = ReplayRequest::from(exchange, clientSpokeTls);
    const ProxyConfig config = m_server->config();
    const bool proxyMode = config.mode == ProxyConfig::Mode::HttpProxy;
    if (edit) {
        const QString where = proxyMode ? tr("proxymon's HTTP proxy on %1").arg(config.listenText())
                                        : tr("proxymon on %1, forwarding to %2 (the URL gives the path and Host)")
                                              .arg(config.listenText(), config.targetText());
        auto *composer = new RequestComposer(request, where, !proxyMode, this);
        composer->setAttribute(Qt::WA_DeleteOnClose);
        connect(composer, &RequestComposer::sendRequested, this,
                [this, origin](const ReplayRequest &edited) { send(edited, origin + tr(", edited")); });
        composer->open();
        return;
    }
    if (quint64(exchange.requestBody.size()) < exchange.requestBodyBytes) {
        showBanner(tr("proxymon kept %1 of the request's %2 body bytes, so it cannot be sent again as it was; "
                      "Edit and resend sends what was kept, or another body")
                       .arg(exchange.requestBody.size())
                       .arg(exchange.requestBodyBytes),
                   true);
        return;
    }
    send(request, origin);
}

void MainWindow::send(const ReplayRequest &request, const QString &origin)
{
    const ProxyConfig config = m_server->config();
    ReplayRequest::Listener listener;
    QHostAddress address = m_server->listenAddress();
    if (address == QHostAddress::Any || address == QHostAddress::AnyIPv4)
        address = QHostAddress(QHostAddress::LocalHost);
    else if (address == QHostAddress::AnyIPv6)
        address = QHostAddress(QHostAddress::LocalHostIPv6);
    listener.host = address.toString();
    listener.port = m_server->listenPort();
    listener.httpProxy = config.mode == ProxyConfig::Mode::HttpProxy;
    listener.authorityFile = m_server->authorityCertificatePath();
    QString error;
    const ReplayClient::Plan plan = request.plan(listener, &error);
    if (!error.isEmpty()) {
        showBanner(tr("Cannot send: %1").arg(error), true);
        return;
    }
    auto *client = new ReplayClient(this);
    const QString clientPrefix = address.protocol() == QAbstractSocket::IPv6Protocol
        ? QLatin1Char('[') + listener.host + QStringLiteral("]:")
        : listener.host + QLatin1Char(':');
    connect(client, &ReplayClient::connected, this, [this, clientPrefix, origin](quint16 port) {
        const QString client = clientPrefix + QString::number(port);
        // Its connection may already be listed.
        for (qsizetype row = m_store.connectionCount(); row-- > 0;) {
            const ConnectionRecord &record = m_store.connectionAt(row);
            if (record.client == client && !record.isClosed()) {
                m_origins.insert(record.id, origin);
                return;
            }
        }
        m_resendClients.insert(client, origin);
    });
    connect(client, &ReplayClient::finished, this, [this, client](const ReplayClient::Outcome &outcome) {
        if (outcome.error.isEmpty())
            statusBar()->showMessage(tr("Sent again: %1, %2 bytes back").arg(outcome.status).arg(outcome.responseBytes), 8000);
        else
            showBanner(tr("Sending again failed: %1").arg(outcome.error), true);
        client->deleteLater();
    });
    client->start(plan);
}

QString MainWindow::originOf(const ConnectionRecord &record) const
{
    return m_origins.value(record.id);
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

void MainWindow::showBanner(const QString &text, bool error)
{
    m_banner->setText(text);
    m_banner->setStyleSheet(error ? BannerStyle::error() : BannerStyle::warning());
    m_banner->show();
}
