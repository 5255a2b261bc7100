#pragma once

#include <QString>

// A system call's errno as the records and messages word it.
namespace SystemError {

// strerror(): "Connection refused".
QString text(int error);
// The symbol, for the errors a user looks up ("EADDRINUSE"), else "errno N".
QString name(int error);
// The peer reset the connection (or it broke as by a reset): ECONNRESET,
// EPIPE, ECONNABORTED.
bool isReset(int error);

} // namespace SystemError
