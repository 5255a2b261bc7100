#pragma once

#include "connectionrecord.h"

#include <QList>

class PassthroughBar;
class QAction;
class QObject;
class TlsInterception;

// The TLS items of a connection's row menu, above the common ones: for the
// host the client asked for (else the one it reached), decrypt it again or
// not, and relay it despite a certificate it failed on. The actions belong
// to holder, which the caller keeps while the menu shows.
namespace TlsRowItems {

QList<QAction *> make(const ConnectionRecord &record, TlsInterception &interception, PassthroughBar *passthrough,
                      QObject *holder);

} // namespace TlsRowItems
