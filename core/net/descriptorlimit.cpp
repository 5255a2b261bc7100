#include "descriptorlimit.h"

#include <sys/resource.h>

#include <algorithm>

namespace DescriptorLimit {

long raiseToHard()
{
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
        return 1024;
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            limit = raised;
    }
    if (limit.rlim_cur == RLIM_INFINITY)
        return 1 << 20;
    return long(limit.rlim_cur);
}

int maxConnectionsFor(long descriptorLimit)
{
    return int(std::max<long>(1, (descriptorLimit - 64) / 2));
}

} // namespace DescriptorLimit
