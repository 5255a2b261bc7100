#include "tlskeylog.h"

#include "systemerror.h"

#include <QFile>
#include <QMutexLocker>

#include <openssl/ssl.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace {

// Where a context keeps its log, for the callback (which gets the session).
int logIndex()
{
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

void logLine(const SSL *ssl, const char *line)
{
    auto *log = static_cast<TlsKeyLog *>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), logIndex()));
    if (log)
        log->write(line);
}

} // namespace

TlsKeyLog::TlsKeyLog(int fd)
    : m_fd(fd)
{
}

TlsKeyLog::~TlsKeyLog()
{
    ::close(m_fd);
}

std::shared_ptr<TlsKeyLog> TlsKeyLog::open(const QString &path, QString *error)
{
    const int fd = ::open(QFile::encodeName(path).constData(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        *error = QStringLiteral("cannot write the key log %1: %2").arg(path, SystemError::text(errno));
        return nullptr;
    }
    return std::shared_ptr<TlsKeyLog>(new TlsKeyLog(fd));
}

void TlsKeyLog::attach(SSL_CTX *context)
{
    SSL_CTX_set_ex_data(context, logIndex(), this);
    SSL_CTX_set_keylog_callback(context, logLine);
}

void TlsKeyLog::write(const char *line)
{
    // One write per line, under the lock: lines of concurrent handshakes
    // never interleave, and a reader (Wireshark) sees whole lines.
    QByteArray text(line);
    text.append('\n');
    QMutexLocker lock(&m_mutex);
    for (qsizetype done = 0; done < text.size();) {
        const ssize_t n = ::write(m_fd, text.constData() + done, size_t(text.size() - done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        done += n;
    }
}
