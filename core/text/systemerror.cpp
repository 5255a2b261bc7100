#include "systemerror.h"

#include <cerrno>
#include <cstring>

QString SystemError::text(int error)
{
    return QString::fromLocal8Bit(std::strerror(error));
}

QString SystemError::name(int error)
{
    switch (error) {
    case EADDRINUSE: return QStringLiteral("EADDRINUSE");
    case EADDRNOTAVAIL: return QStringLiteral("EADDRNOTAVAIL");
    case EACCES: return QStringLiteral("EACCES");
    case EAFNOSUPPORT: return QStringLiteral("EAFNOSUPPORT");
    case EMFILE: return QStringLiteral("EMFILE");
    case ENFILE: return QStringLiteral("ENFILE");
    default: return QStringLiteral("errno %1").arg(error);
    }
}

bool SystemError::isReset(int error)
{
    return error == ECONNRESET || error == EPIPE || error == ECONNABORTED;
}
