#pragma once

// The process's open-descriptor limit, which bounds how many connections the
// proxy can hold (each takes two descriptors).
namespace DescriptorLimit {

// Raises the soft limit to the hard limit (once is enough; repeated calls are
// cheap) and returns the soft limit now in force.
long raiseToHard();

// The default connection limit for a descriptor limit: (limit - 64) / 2,
// leaving room for the listener, the workers' own descriptors and whatever
// the process opens.
int maxConnectionsFor(long descriptorLimit);

} // namespace DescriptorLimit
