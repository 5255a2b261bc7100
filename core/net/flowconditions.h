#pragma once

#include <QtGlobal>

// The network one direction of a connection should seem to cross, as the
// user set it: a delay per byte, a bandwidth, delivery in slices. A value;
// all zero is no condition at all.
struct FlowConditions
{
    qint64 latencyUs = 0;      // added to each byte's passage
    qint64 jitterUs = 0;       // ± this much, drawn per read; order is kept
    qint64 bytesPerSecond = 0; // 0: unlimited
    qint64 burstBytes = 0;     // sent at once after a quiet spell; 0: 10 ms' worth
    bool sharedBandwidth = false; // the bandwidth is shared by every connection it applies to
    int sliceBytes = 0;        // 0: no slicing; else one write per slice
    int sliceVariation = 0;    // ± bytes per slice
    qint64 sliceDelayUs = 0;   // between slices

    bool isEmpty() const
    {
        return latencyUs == 0 && jitterUs == 0 && bytesPerSecond == 0 && sliceBytes == 0;
    }
    bool operator==(const FlowConditions &other) const
    {
        return latencyUs == other.latencyUs && jitterUs == other.jitterUs && bytesPerSecond == other.bytesPerSecond
            && burstBytes == other.burstBytes && sharedBandwidth == other.sharedBandwidth
            && sliceBytes == other.sliceBytes && sliceVariation == other.sliceVariation
            && sliceDelayUs == other.sliceDelayUs;
    }

    // Another rule's settings over these: each one it sets wins.
    void combine(const FlowConditions &other)
    {
        if (other.latencyUs || other.jitterUs) {
            latencyUs = other.latencyUs;
            jitterUs = other.jitterUs;
        }
        if (other.bytesPerSecond) {
            bytesPerSecond = other.bytesPerSecond;
            burstBytes = other.burstBytes;
            sharedBandwidth = other.sharedBandwidth;
        }
        if (other.sliceBytes) {
            sliceBytes = other.sliceBytes;
            sliceVariation = other.sliceVariation;
            sliceDelayUs = other.sliceDelayUs;
        }
    }
};
