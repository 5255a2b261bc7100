#include "captureviews.h"

#include "capturestore.h"
#include "connectionfiltermodel.h"
#include "connectionlifeview.h"
#include "connectiontablemodel.h"
#include "exchangedetailview.h"
#include "exchangefiltermodel.h"
#include "exchangetablemodel.h"
#include "sparklinedelegate.h"
#include "tableviews.h"
#include "waterfalldelegate.h"

#include <QHeaderView>
#include <QSettings>
#include <QSplitter>
#include <QTableView>

CaptureViews::CaptureViews(CaptureStore *store, ConnectionTableModel *connectionModel, ConnectionFilterModel *connections,
                           ExchangeFilterModel *exchanges, std::function<QString(quint64)> originOf, QWidget *parent)
    : QObject(parent)
    , m_store(store)
    , m_exchangeFilter(exchanges)
    , m_originOf(std::move(originOf))
{
    m_connectionsView = TableViews::make(QStringLiteral("connectionsView"), connections, parent);
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
                                                new WaterfallDelegate(store, connections, m_connectionsView));
    connect(connectionModel, &ConnectionTableModel::clockMoved, m_connectionsView->viewport(),
            qOverload<>(&QWidget::update));
    m_exchangesView = TableViews::make(QStringLiteral("exchangesView"), exchanges, parent);
    m_exchangesView->sortByColumn(ExchangeTableModel::Connection, Qt::AscendingOrder);
    m_exchangesView->setColumnWidth(ExchangeTableModel::Connection, 60);
    m_exchangesView->setColumnWidth(ExchangeTableModel::Method, 70);
    m_exchangesView->setColumnWidth(ExchangeTableModel::Target, 220);
    m_exchangesView->setColumnWidth(ExchangeTableModel::Flags, 24);
    m_detail = new ExchangeDetailView(parent);
    m_detail->setObjectName(QStringLiteral("detailView"));

    m_bottomSplitter = new QSplitter(Qt::Horizontal, parent);
    m_bottomSplitter->setObjectName(QStringLiteral("bottomSplitter"));
    m_bottomSplitter->addWidget(m_exchangesView);
    m_bottomSplitter->addWidget(m_detail);
    m_bottomSplitter->setStretchFactor(0, 1);
    m_bottomSplitter->setStretchFactor(1, 1);
    m_mainSplitter = new QSplitter(Qt::Vertical, parent);
    m_mainSplitter->setObjectName(QStringLiteral("mainSplitter"));
    m_mainSplitter->addWidget(m_connectionsView);
    m_mainSplitter->addWidget(m_bottomSplitter);
    m_mainSplitter->setStretchFactor(0, 2);
    m_mainSplitter->setStretchFactor(1, 3);
    TableViews::followNewRows(m_connectionsView, &m_followConnections);
    TableViews::followNewRows(m_exchangesView, &m_followExchanges);
    connect(m_connectionsView->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &CaptureViews::connectionSelected);
    connect(m_exchangesView->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &CaptureViews::exchangeSelected);
    m_connectionsView->setContextMenuPolicy(Qt::CustomContextMenu);
    m_exchangesView->setContextMenuPolicy(Qt::CustomContextMenu);
}

void CaptureViews::followShown(const QList<ConnectionRecord> &records)
{
    // The connection whose life is on screen moves on with its records.
    const quint64 shown = m_detail->lifeView()->shownId();
    if (shown == 0)
        return;
    for (const ConnectionRecord &record : records) {
        if (record.id != shown)
            continue;
        const qsizetype row = m_store->connectionRow(shown);
        if (row >= 0)
            m_detail->updateConnection(m_store->connectionAt(row), m_store->rateHistory(shown));
        return;
    }
}

void CaptureViews::setAllExchanges(bool all)
{
    m_allExchanges = all;
    connectionSelected();
}

void CaptureViews::connectionSelected()
{
    const QModelIndex current = m_connectionsView->currentIndex();
    const quint64 id = current.isValid() ? current.data(ConnectionTableModel::IdRole).toULongLong() : 0;
    m_exchangeFilter->setConnection(m_allExchanges ? 0 : (id ? id : ~quint64(0)));
    if (!id)
        return;
    const qsizetype row = m_store->connectionRow(id);
    if (row >= 0)
        m_detail->showConnection(m_store->connectionAt(row), m_store->rateHistory(id));
    if (row >= 0 && m_store->connectionAt(row).raw) {
        m_detail->showRawConnection(m_store->connectionAt(row));
        return;
    }
    if (!m_allExchanges && m_exchangeFilter->rowCount() > 0)
        m_exchangesView->setCurrentIndex(m_exchangeFilter->index(0, 0));
    else if (!m_allExchanges)
        m_detail->showNothing(tr("Connection %1 has no HTTP exchange (yet).").arg(id));
}

void CaptureViews::exchangeSelected()
{
    const QModelIndex current = m_exchangesView->currentIndex();
    if (!current.isValid())
        return;
    const QModelIndex source = m_exchangeFilter->mapToSource(current);
    if (source.row() >= m_store->exchangeCount())
        return;
    const HttpExchange &exchange = m_store->exchangeAt(source.row());
    const qsizetype row = m_store->connectionRow(exchange.connectionId);
    m_detail->showExchange(exchange, row >= 0 ? m_originOf(exchange.connectionId) : QString());
    if (row >= 0)
        m_detail->showConnection(m_store->connectionAt(row), m_store->rateHistory(exchange.connectionId));
}

void CaptureViews::showNothing()
{
    m_detail->showNothing(tr("Select a connection or an exchange."));
    m_detail->lifeView()->showNothing();
    m_followConnections = true;
    m_followExchanges = true;
}

void CaptureViews::restore(const QSettings &settings)
{
    m_mainSplitter->restoreState(settings.value(QStringLiteral("window/mainSplitter")).toByteArray());
    m_bottomSplitter->restoreState(settings.value(QStringLiteral("window/bottomSplitter")).toByteArray());
    m_connectionsView->horizontalHeader()->restoreState(settings.value(QStringLiteral("connections/header")).toByteArray());
    m_exchangesView->horizontalHeader()->restoreState(settings.value(QStringLiteral("exchanges/header")).toByteArray());
}

void CaptureViews::save(QSettings *settings) const
{
    settings->setValue(QStringLiteral("window/mainSplitter"), m_mainSplitter->saveState());
    settings->setValue(QStringLiteral("window/bottomSplitter"), m_bottomSplitter->saveState());
    settings->setValue(QStringLiteral("connections/header"), m_connectionsView->horizontalHeader()->saveState());
    settings->setValue(QStringLiteral("exchanges/header"), m_exchangesView->horizontalHeader()->saveState());
}
