#include "heaptrim.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

bool HeapTrim::due(bool busy, qint64 nowMs)
{
    if (busy) {
        m_lastBusyMs = nowMs;
        return false;
    }
    if (m_lastBusyMs < 0 || nowMs - m_lastBusyMs < QuietMs)
        return false;
    m_lastBusyMs = -1;
    return true;
}

void HeapTrim::trim()
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}
