#include "sessionpolicy.h"

bool SessionPolicy::addressesResolved(const ResolveResult &)
{
    return true;
}

bool SessionPolicy::sideFailed(Side, int)
{
    return false;
}

bool SessionPolicy::endDecided(Reason *) const
{
    return false;
}

void SessionPolicy::ended()
{
}
