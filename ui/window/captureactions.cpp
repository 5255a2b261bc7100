#include "captureactions.h"

#include "bytetext.h"
#include "connectionfaultmenu.h"
#include "connectiontablemodel.h"
#include "contentdecoder.h"
#include "curlcommand.h"
#include "endpoint.h"
#include "exchangefiltermodel.h"
#include "proxyserver.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QFileDialog>
#include <QItemSelectionModel>
#include <QMenu>
#include <QSaveFile>
#include <QTableView>

#include <algorithm>

namespace {

QString hostOfUrl(const QByteArray &url)
{
    QByteArray rest = url;
    const qsizetype scheme = rest.indexOf("://");
    if (scheme >= 0)
        rest = rest.mid(scheme + 3);
    for (const char stop : {'/', '?', '#'}) {
        const qsizetype at = rest.indexOf(stop);
        if (at >= 0)
            rest.truncate(at);
    }
    Endpoint endpoint;
    QString error;
    if (Endpoint::parse(QString::fromUtf8(rest), &endpoint, &error))
        return endpoint.host;
    return QString::fromUtf8(rest);
}

QString hostOfRecord(const ConnectionRecord &record)
{
    Endpoint endpoint;
    QString error;
    QString upstream = record.upstream;
    if (upstream.startsWith(QLatin1String("tls:")))
        upstream = upstream.mid(4);
    return Endpoint::parse(upstream, &endpoint, &error) ? endpoint.host : QString();
}

// The client's address without its port: the filter matches any port.
QString clientAddress(const QString &client)
{
    Endpoint endpoint;
    QString error;
    return Endpoint::parse(client, &endpoint, &error) ? endpoint.host : client;
}

} // namespace

CaptureActions::CaptureActions(CaptureStore *store, ProxyServer *server, QTableView *connections,
                               QTableView *exchanges, ExchangeFilterModel *exchangeFilter, QWidget *window)
    : QObject(window)
    , m_store(store)
    , m_server(server)
    , m_connections(connections)
    , m_exchanges(exchanges)
    , m_exchangeFilter(exchangeFilter)
    , m_window(window)
{
    make("copyUrl", tr("Copy URL"), Qt::CTRL | Qt::SHIFT | Qt::Key_U, &CaptureActions::copyUrl);
    make("copyCurl", tr("Copy as curl"), Qt::CTRL | Qt::SHIFT | Qt::Key_C, &CaptureActions::copyCurl);
    make("copyCurlConvenient", tr("Copy as curl (convenient: --compressed, no Content-Length)"), {},
         &CaptureActions::copyCurlConvenient);
    make("copyRequestHead", tr("Copy request head"), {}, &CaptureActions::copyRequestHead);
    make("copyResponseHead", tr("Copy response head"), Qt::CTRL | Qt::SHIFT | Qt::Key_H,
         &CaptureActions::copyResponseHead);
    make("copyResponseBody", tr("Copy response body"), Qt::CTRL | Qt::SHIFT | Qt::Key_B,
         &CaptureActions::copyResponseBody);
    make("resend", tr("Resend"), Qt::CTRL | Qt::Key_R, &CaptureActions::resend);
    make("editAndResend", tr("Edit and resend…"), Qt::CTRL | Qt::Key_E, &CaptureActions::editAndResend);
    make("filterByHost", tr("Filter by this host"), Qt::CTRL | Qt::SHIFT | Qt::Key_F, &CaptureActions::filterByHost);
    make("filterByClient", tr("Filter by this client"), {}, &CaptureActions::filterByClient);
    make("closeConnection", tr("Close connection"), {}, &CaptureActions::closeConnections);
    m_faults = new ConnectionFaultMenu(server, [this] { return selectedConnections(); }, window);
    connect(m_faults, &ConnectionFaultMenu::message, this, &CaptureActions::message);

    m_saveMenu = new QMenu(tr("Save body"), window);
    m_saveMenu->setObjectName(QStringLiteral("saveBodyMenu"));
    const struct { const char *name; QString text; Part part; bool raw; } saves[] = {
        {"saveResponseBody", tr("Response body as…"), Part::ResponseBody, false},
        {"saveRequestBody", tr("Request body as…"), Part::RequestBody, false},
        {"saveRawResponseBody", tr("Response body as it came (still encoded)…"), Part::ResponseBody, true},
        {"saveRawRequestBody", tr("Request body as it came (still encoded)…"), Part::RequestBody, true},
    };
    for (const auto &save : saves) {
        QAction *item = m_saveMenu->addAction(save.text);
        item->setObjectName(QLatin1String(save.name));
        connect(item, &QAction::triggered, this, [this, part = save.part, raw = save.raw] { askSaveBody(part, raw); });
        m_actions.append(item);
    }
    m_exportMenu = new QMenu(tr("Export selected"), window);
    m_exportMenu->setObjectName(QStringLiteral("exportSelectedMenu"));
    const struct { const char *name; QString text; QString format; } exports[] = {
        {"exportSelectedHar", tr("As HAR…"), QStringLiteral("har")},
        {"exportSelectedJsonl", tr("As JSON Lines…"), QStringLiteral("jsonl")},
        {"exportSelectedPcapng", tr("As pcapng (for Wireshark)…"), QStringLiteral("pcapng")},
        {"exportSelectedSession", tr("As a session…"), QStringLiteral("session")},
    };
    for (const auto &item : exports) {
        QAction *action = m_exportMenu->addAction(item.text);
        action->setObjectName(QLatin1String(item.name));
        connect(action, &QAction::triggered, this,
                [this, format = item.format] { emit exportRequested(selection(), format); });
        m_actions.append(action);
    }

    // Shortcuts act on the list with the focus; menus follow the selection.
    m_refresh.setSingleShot(true);
    m_refresh.setInterval(200);
    connect(&m_refresh, &QTimer::timeout, this, &CaptureActions::updateEnabled);
    for (QTableView *view : {m_connections, m_exchanges}) {
        view->setSelectionMode(QAbstractItemView::ExtendedSelection);
        connect(view->selectionModel(), &QItemSelectionModel::selectionChanged, this, &CaptureActions::updateEnabled);
        connect(view->model(), &QAbstractItemModel::dataChanged, this, [this, view] {
            if (view->selectionModel()->hasSelection() && !m_refresh.isActive())
                m_refresh.start();
        });
    }
    updateEnabled();
}

QAction *CaptureActions::make(const char *name, const QString &text, const QKeySequence &shortcut,
                              void (CaptureActions::*slot)())
{
    auto *item = new QAction(text, m_window);
    item->setObjectName(QLatin1String(name));
    item->setShortcut(shortcut);
    // A list's own shortcuts (Ctrl+C copies cells) stay its own; these
    // work anywhere in the window.
    item->setShortcutContext(Qt::WindowShortcut);
    connect(item, &QAction::triggered, this, slot);
    m_window->addAction(item);
    m_actions.append(item);
    return item;
}

QAction *CaptureActions::action(const char *name) const
{
    for (QAction *item : m_actions) {
        if (item->objectName() == QLatin1String(name))
            return item;
    }
    return nullptr;
}

void CaptureActions::fillMenu(QMenu *menu)
{
    for (const char *name : {"copyUrl", "copyCurl", "copyCurlConvenient", "copyRequestHead", "copyResponseHead",
                             "copyResponseBody"})
        menu->addAction(action(name));
    menu->addMenu(m_saveMenu);
    menu->addSeparator();
    menu->addAction(action("resend"));
    menu->addAction(action("editAndResend"));
    menu->addSeparator();
    menu->addMenu(m_exportMenu);
    menu->addAction(action("filterByHost"));
    menu->addAction(action("filterByClient"));
    menu->addSeparator();
    menu->addAction(action("closeConnection"));
    connect(menu, &QMenu::aboutToShow, this, [this] {
        m_scope = focusedScope();
        updateEnabled();
    });
}

CaptureActions::Scope CaptureActions::focusedScope() const
{
    if (m_menuOpen)
        return m_scope;
    const QWidget *focus = QApplication::focusWidget();
    if (focus && (focus == m_connections || m_connections->isAncestorOf(focus)))
        return Scope::Connections;
    if (focus && (focus == m_exchanges || m_exchanges->isAncestorOf(focus)))
        return Scope::Exchanges;
    // Elsewhere (the detail pane, say): the exchanges when some are
    // selected, else the connections.
    return m_exchanges->selectionModel()->hasSelection() ? Scope::Exchanges : Scope::Connections;
}

QList<ConnectionRecord> CaptureActions::selectedConnections() const
{
    QList<ConnectionRecord> records;
    if (focusedScope() == Scope::Connections) {
        for (const QModelIndex &index : m_connections->selectionModel()->selectedRows()) {
            const qsizetype row = m_store->connectionRow(index.data(ConnectionTableModel::IdRole).toULongLong());
            if (row >= 0)
                records.append(m_store->connectionAt(row));
        }
    } else {
        QList<quint64> ids;
        for (const HttpExchange &exchange : selectedExchanges()) {
            if (!ids.contains(exchange.connectionId))
                ids.append(exchange.connectionId);
        }
        for (const quint64 id : std::as_const(ids)) {
            const qsizetype row = m_store->connectionRow(id);
            if (row >= 0)
                records.append(m_store->connectionAt(row));
        }
    }
    std::sort(records.begin(), records.end(), [](const auto &a, const auto &b) { return a.id < b.id; });
    return records;
}

QList<HttpExchange> CaptureActions::selectedExchanges() const
{
    QList<HttpExchange> exchanges;
    if (focusedScope() == Scope::Exchanges) {
        QList<qsizetype> rows;
        for (const QModelIndex &index : m_exchanges->selectionModel()->selectedRows()) {
            const qsizetype row = m_exchangeFilter->mapToSource(index).row();
            if (row >= 0 && row < m_store->exchangeCount())
                rows.append(row);
        }
        std::sort(rows.begin(), rows.end());
        for (const qsizetype row : std::as_const(rows))
            exchanges.append(m_store->exchangeAt(row));
        return exchanges;
    }
    // The exchanges of the selected connections, in the order they came.
    QSet<quint64> ids;
    for (const QModelIndex &index : m_connections->selectionModel()->selectedRows())
        ids.insert(index.data(ConnectionTableModel::IdRole).toULongLong());
    if (ids.isEmpty())
        return exchanges;
    for (qsizetype row = 0; row < m_store->exchangeCount(); ++row) {
        if (ids.contains(m_store->exchangeAt(row).connectionId))
            exchanges.append(m_store->exchangeAt(row));
    }
    return exchanges;
}

CaptureSelection CaptureActions::selection() const
{
    CaptureSelection picked;
    if (focusedScope() == Scope::Connections) {
        QSet<quint64> ids;
        for (const ConnectionRecord &record : selectedConnections())
            ids.insert(record.id);
        picked.selectConnections(ids);
    } else {
        QSet<CaptureSelection::ExchangeKey> keys;
        for (const HttpExchange &exchange : selectedExchanges())
            keys.insert({exchange.connectionId, exchange.sequence});
        picked.selectExchanges(keys);
    }
    return picked;
}

void CaptureActions::updateEnabled()
{
    const QList<HttpExchange> exchanges = selectedExchanges();
    const QList<ConnectionRecord> records = selectedConnections();
    const bool anyRequest = std::any_of(exchanges.cbegin(), exchanges.cend(),
                                        [](const HttpExchange &e) { return !e.request.isEmpty(); });
    const bool anyCurl = std::any_of(exchanges.cbegin(), exchanges.cend(), &CurlCommand::canBuild);
    const bool anyResponse = std::any_of(exchanges.cbegin(), exchanges.cend(),
                                         [](const HttpExchange &e) { return e.hasResponse(); });
    const bool one = exchanges.size() == 1;
    action("copyUrl")->setEnabled(anyRequest || !records.isEmpty());
    action("copyCurl")->setEnabled(anyCurl);
    action("copyCurlConvenient")->setEnabled(anyCurl);
    action("copyRequestHead")->setEnabled(anyRequest);
    action("copyResponseHead")->setEnabled(anyResponse);
    action("copyResponseBody")->setEnabled(one && !exchanges.first().responseBody.isEmpty());
    action("saveResponseBody")->setEnabled(one && !exchanges.first().responseBody.isEmpty());
    action("saveRawResponseBody")->setEnabled(one && !exchanges.first().responseBody.isEmpty());
    action("saveRequestBody")->setEnabled(one && !exchanges.first().requestBody.isEmpty());
    action("saveRawRequestBody")->setEnabled(one && !exchanges.first().requestBody.isEmpty());
    action("resend")->setEnabled(anyCurl);
    action("editAndResend")->setEnabled(one && CurlCommand::canBuild(exchanges.first()));
    const bool anything = !records.isEmpty();
    for (const char *name : {"exportSelectedHar", "exportSelectedJsonl", "exportSelectedPcapng", "exportSelectedSession",
                             "filterByClient"})
        action(name)->setEnabled(anything);
    action("filterByHost")->setEnabled(anyRequest || std::any_of(records.cbegin(), records.cend(), [](const auto &r) {
        return !hostOfRecord(r).isEmpty();
    }));
    action("closeConnection")->setEnabled(std::any_of(records.cbegin(), records.cend(),
                                                      [](const ConnectionRecord &r) { return !r.isClosed(); }));
}

void CaptureActions::showConnectionMenu(const QPoint &at, const QList<QAction *> &extra)
{
    if (!m_connections->indexAt(at).isValid())
        return;
    m_scope = Scope::Connections;
    m_menuOpen = true;
    updateEnabled();
    QMenu menu(m_window);
    if (!extra.isEmpty()) {
        menu.addActions(extra);
        menu.addSeparator();
    }
    fillMenu(&menu);
    m_faults->addTo(&menu);
    menu.exec(m_connections->viewport()->mapToGlobal(at));
    m_menuOpen = false;
    updateEnabled();
}

void CaptureActions::showExchangeMenu(const QPoint &at)
{
    if (!m_exchanges->indexAt(at).isValid())
        return;
    m_scope = Scope::Exchanges;
    m_menuOpen = true;
    updateEnabled();
    QMenu menu(m_window);
    fillMenu(&menu);
    menu.exec(m_exchanges->viewport()->mapToGlobal(at));
    m_menuOpen = false;
    updateEnabled();
}

void CaptureActions::copy(const QString &text, const QString &what)
{
    if (text.isEmpty())
        return;
    QApplication::clipboard()->setText(text);
    emit message(tr("Copied %1").arg(what));
}

void CaptureActions::copyUrl()
{
    QStringList urls;
    for (const HttpExchange &exchange : selectedExchanges()) {
        if (!exchange.request.isEmpty())
            urls.append(QString::fromUtf8(exchange.url()));
    }
    if (urls.isEmpty()) {
        // Connections without HTTP: where they went.
        for (const ConnectionRecord &record : selectedConnections())
            urls.append(record.upstream);
    }
    copy(urls.join(QLatin1Char('\n')), urls.size() == 1 ? tr("the URL") : tr("%1 URLs").arg(urls.size()));
}

void CaptureActions::copyCurl()
{
    copyCommands(CurlCommand::Style::Faithful);
}

void CaptureActions::copyCurlConvenient()
{
    copyCommands(CurlCommand::Style::Convenient);
}

void CaptureActions::copyCommands(CurlCommand::Style style)
{
    QByteArrayList commands;
    for (const HttpExchange &exchange : selectedExchanges()) {
        if (CurlCommand::canBuild(exchange))
            commands.append(CurlCommand::build(exchange, style));
    }
    copy(QString::fromUtf8(commands.join('\n')),
         commands.size() == 1 ? tr("a curl command") : tr("%1 curl commands").arg(commands.size()));
}

void CaptureActions::copyRequestHead()
{
    copyHeads(false);
}

void CaptureActions::copyResponseHead()
{
    copyHeads(true);
}

void CaptureActions::copyHeads(bool responses)
{
    QStringList heads;
    for (const HttpExchange &exchange : selectedExchanges()) {
        const HttpHead &head = responses ? exchange.response : exchange.request;
        if (!head.isEmpty())
            heads.append(ByteText::readable(head.raw));
    }
    const QString one = responses ? tr("the response head") : tr("the request head");
    const QString many = responses ? tr("%1 response heads") : tr("%1 request heads");
    copy(heads.join(QLatin1Char('\n')), heads.size() == 1 ? one : many.arg(heads.size()));
}

void CaptureActions::copyResponseBody()
{
    const QList<HttpExchange> exchanges = selectedExchanges();
    if (exchanges.size() != 1)
        return;
    const HttpExchange &exchange = exchanges.first();
    const ContentDecoder::Result decoded
        = ContentDecoder::decode(exchange.responseBody, exchange.response.value("content-encoding"));
    QString what = tr("the response body");
    if (quint64(exchange.responseBody.size()) < exchange.responseBodyBytes)
        what = tr("the response body's first %1 bytes (all that was kept)").arg(exchange.responseBody.size());
    copy(QString::fromUtf8(decoded.bytes), what);
}

void CaptureActions::resend()
{
    for (const HttpExchange &exchange : selectedExchanges()) {
        if (CurlCommand::canBuild(exchange))
            emit resendRequested(exchange, false);
    }
}

void CaptureActions::editAndResend()
{
    const QList<HttpExchange> exchanges = selectedExchanges();
    if (exchanges.size() == 1 && CurlCommand::canBuild(exchanges.first()))
        emit resendRequested(exchanges.first(), true);
}

void CaptureActions::filterByHost()
{
    const QList<HttpExchange> exchanges = selectedExchanges();
    QString host;
    if (!exchanges.isEmpty() && !exchanges.first().request.isEmpty())
        host = hostOfUrl(exchanges.first().url());
    if (host.isEmpty()) {
        const QList<ConnectionRecord> records = selectedConnections();
        if (!records.isEmpty())
            host = hostOfRecord(records.first());
    }
    if (!host.isEmpty())
        emit filterRequested(QStringLiteral("host:") + host);
}

void CaptureActions::filterByClient()
{
    const QList<ConnectionRecord> records = selectedConnections();
    if (!records.isEmpty())
        emit filterRequested(QStringLiteral("client:") + clientAddress(records.first().client));
}

void CaptureActions::closeConnections()
{
    int closing = 0;
    for (const ConnectionRecord &record : selectedConnections()) {
        if (record.isClosed())
            continue;
        m_server->closeConnection(record.id);
        ++closing;
    }
    if (closing)
        emit message(tr("Closing %n connection(s)", nullptr, closing));
}

void CaptureActions::askSaveBody(Part part, bool raw)
{
    const QList<HttpExchange> exchanges = selectedExchanges();
    if (exchanges.size() != 1)
        return;
    const HttpExchange exchange = exchanges.first();
    // The last segment of the path, as a browser would name the download.
    QByteArray name = exchange.request.target().toByteArray();
    const qsizetype query = name.indexOf('?');
    if (query >= 0)
        name.truncate(query);
    name = name.mid(name.lastIndexOf('/') + 1);
    if (name.isEmpty())
        name = part == Part::ResponseBody ? "response.bin" : "request.bin";
    const QString path = QFileDialog::getSaveFileName(m_window, tr("Save body"), QString::fromUtf8(name));
    if (path.isEmpty())
        return;
    QString error;
    QString note;
    if (!saveBody(exchange, part, raw, path, &error, &note))
        emit message(error);
    else
        emit message(note.isEmpty() ? tr("Saved to %1").arg(path) : tr("Saved to %1 (%2)").arg(path, note));
}

bool CaptureActions::saveBody(const HttpExchange &exchange, Part part, bool raw, const QString &path, QString *error,
                              QString *note)
{
    const bool response = part == Part::ResponseBody;
    const QByteArray &kept = response ? exchange.responseBody : exchange.requestBody;
    const quint64 total = response ? exchange.responseBodyBytes : exchange.requestBodyBytes;
    const HttpHead &head = response ? exchange.response : exchange.request;
    QByteArray bytes = kept;
    note->clear();
    if (!raw) {
        const ContentDecoder::Result decoded = ContentDecoder::decode(kept, head.value("content-encoding"));
        bytes = decoded.bytes;
        if (!decoded.error.isEmpty())
            *note = tr("decoding stopped: %1").arg(decoded.error);
    }
    if (quint64(kept.size()) < total) {
        const QString part = tr("proxymon kept %1 of %2 bytes").arg(kept.size()).arg(total);
        *note = note->isEmpty() ? part : *note + QStringLiteral("; ") + part;
    }
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
        *error = tr("Could not save to %1: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}
