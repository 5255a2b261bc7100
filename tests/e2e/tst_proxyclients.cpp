// Benign traffic through the HTTP proxy after its anti-smuggling rules: curl
// and a plain socket client against a real nginx (keep-alive upstream, as
// configured in production): chunked uploads framed again by proxymon,
// 100-continue, and an upload nginx refuses before reading its body,
// followed by another request on the same connection, which succeeds.

#include "loopback.h"
#include "nginxserver.h"
#include "runningproxy.h"

#include <QProcess>
#include <QStandardPaths>
#include <QTest>

#include <sys/socket.h>

using namespace Loopback;

class tst_ProxyClients : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void cleanup();
    void curlChunkedUpload();
    void curlExpectContinue();
    void uploadRefusedEarlyThenNextRequest();
    void curlTooLargeThenNext();

private:
    // curl through the proxy; its standard output, or empty when it failed.
    QByteArray curl(const QStringList &arguments);
    QString url(const char *path) const { return QStringLiteral("http://127.0.0.1:%1%2").arg(m_port).arg(QLatin1String(path)); }

    NginxServer m_nginx;
    quint16 m_port = 0;
    std::unique_ptr<RunningProxy> m_proxy;
};

void tst_ProxyClients::initTestCase()
{
    QVERIFY2(!QStandardPaths::findExecutable(QStringLiteral("curl")).isEmpty(), "curl is not installed (scripts/test.sh installs it)");
    m_port = unusedPort();
    const quint16 backend = unusedPort();
    // /refuse answers before reading the body, then reads and drops it by
    // its length and keeps the connection (nginx's "return"); the rest goes
    // to a second server, which says what length reached it.
    const QString servers = QStringLiteral(
        "  server { listen 127.0.0.1:%1; keepalive_requests 1000;\n"
        "    location /small { client_max_body_size 1k; return 200 \"small\\n\"; }\n"
        "    location /refuse { return 401 \"refused\\n\"; }\n"
        "    location / { client_max_body_size 10m; client_body_buffer_size 16m;\n"
        "                 proxy_pass http://127.0.0.1:%2; }\n"
        "  }\n"
        "  server { listen 127.0.0.1:%2;\n"
        "    location / { return 200 \"got $request_method $request_uri $content_length\\n\"; } }\n")
        .arg(m_port).arg(backend);
    QString error;
    QVERIFY2(m_nginx.start(servers, m_port, &error), qPrintable(error));
    QVERIFY(m_nginx.write(QStringLiteral("upload.bin"), randomBytes(1'000'000, 34)));
    QVERIFY(m_nginx.write(QStringLiteral("small.bin"), randomBytes(20'000, 35)));
}

void tst_ProxyClients::init()
{
    m_proxy = std::make_unique<RunningProxy>();
    ProxyConfig config;
    config.mode = ProxyConfig::Mode::HttpProxy;
    config.stopGraceMs = 100;
    QVERIFY(m_proxy->start(config));
}

void tst_ProxyClients::cleanup()
{
    m_proxy.reset();
}

QByteArray tst_ProxyClients::curl(const QStringList &arguments)
{
    QProcess process;
    process.start(QStringLiteral("curl"), QStringList{QStringLiteral("-sS"), QStringLiteral("--max-time"), QStringLiteral("20"),
                                                      QStringLiteral("-x"),
                                                      QStringLiteral("http://127.0.0.1:%1").arg(m_proxy->port())}
                                              + arguments);
    if (!QTest::qWaitFor([&] { return process.state() == QProcess::NotRunning; }, 30'000)) {
        process.kill();
        process.waitForFinished(5'000);
        return QByteArray();
    }
    const QByteArray out = process.readAllStandardOutput();
    if (process.exitCode() != 0)
        qWarning("curl failed: %s", process.readAllStandardError().constData());
    return process.exitCode() == 0 ? out : QByteArray();
}

void tst_ProxyClients::curlChunkedUpload()
{
    const QByteArray out = curl({QStringLiteral("-H"), QStringLiteral("Transfer-Encoding: chunked"), QStringLiteral("--data-binary"),
                                 QLatin1Char('@') + m_nginx.path(QStringLiteral("upload.bin")), url("/chunked")});
    QCOMPARE(out, QByteArray("got POST /chunked 1000000\n"));
    QVERIFY(m_proxy->records.waitForExchanges(1));
    const HttpExchange exchange = m_proxy->records.exchanges().first();
    QCOMPARE(exchange.requestBodyBytes, 1'000'000u);
    QCOMPARE(exchange.response.status, 200);
    QCOMPARE(exchange.flags, 0u);
}

void tst_ProxyClients::curlExpectContinue()
{
    const QByteArray out = curl({QStringLiteral("-H"), QStringLiteral("Expect: 100-continue"), QStringLiteral("--data-binary"),
                                 QLatin1Char('@') + m_nginx.path(QStringLiteral("small.bin")), url("/continue")});
    QCOMPARE(out, QByteArray("got POST /continue 20000\n"));
    QVERIFY(m_proxy->records.waitForExchanges(1));
    const HttpExchange exchange = m_proxy->records.exchanges().first();
    QCOMPARE(exchange.interim.size(), 1);
    QCOMPARE(exchange.interim.first().status, 100);
    QCOMPARE(exchange.response.status, 200);
    QCOMPARE(exchange.requestBodyBytes, 20'000u);
}

void tst_ProxyClients::uploadRefusedEarlyThenNextRequest()
{
    // nginx answers 401 after the head, then takes the next 20,000 bytes
    // it reads as that body. proxymon drops the rest of the body it no
    // longer sends, so the next request goes over a new upstream: on the
    // old one it would have been swallowed as body bytes.
    const quint16 proxyPort = m_proxy->port();
    const QByteArray host = "127.0.0.1:" + QByteArray::number(m_port);
    const QList<QByteArray> answers = offThread([&] {
        QList<QByteArray> got;
        Socket client = connectTo("127.0.0.1", proxyPort);
        sendAll(client.fd(), "POST http://" + host + "/refuse HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 20000\r\n\r\n");
        QByteArray pending;
        while (!pending.contains("refused\n")) {
            char chunk[4096];
            const ssize_t n = ::recv(client.fd(), chunk, sizeof chunk, 0);
            if (n <= 0)
                return got;
            pending.append(chunk, n);
        }
        got.append(pending);
        sendAll(client.fd(), QByteArray(20'000, 'x') + "GET http://" + host + "/after HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
        pending.clear();
        while (!pending.endsWith("\n") || !pending.contains("\r\n\r\n")) {
            char chunk[4096];
            const ssize_t n = ::recv(client.fd(), chunk, sizeof chunk, 0);
            if (n <= 0)
                break;
            pending.append(chunk, n);
        }
        got.append(pending);
        return got;
    });
    QCOMPARE(answers.size(), 2);
    QVERIFY2(answers[0].startsWith("HTTP/1.1 401 "), answers[0].constData());
    QVERIFY2(answers[1].startsWith("HTTP/1.1 200 ") && answers[1].endsWith("got GET /after \n"), answers[1].constData());
    QVERIFY(m_proxy->records.waitForClosed(1));
    const ConnectionRecord record = m_proxy->records.closed().first();
    QCOMPARE(record.requests, 2u);
}

void tst_ProxyClients::curlTooLargeThenNext()
{
    // nginx refuses the upload with 413 and closes; curl's next request
    // goes over a new connection and is answered.
    const QByteArray out = curl({QStringLiteral("--data-binary"), QLatin1Char('@') + m_nginx.path(QStringLiteral("small.bin")),
                                 QStringLiteral("-H"), QStringLiteral("Expect:"), QStringLiteral("-w"),
                                 QStringLiteral("%{http_code}\\n"), QStringLiteral("-o"), QStringLiteral("/dev/null"),
                                 url("/small"), QStringLiteral("--next"), QStringLiteral("-x"),
                                 QStringLiteral("http://127.0.0.1:%1").arg(m_proxy->port()), url("/after")});
    QCOMPARE(out, QByteArray("413\ngot GET /after \n"));
}

QTEST_GUILESS_MAIN(tst_ProxyClients)
#include "tst_proxyclients.moc"
