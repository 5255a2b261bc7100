#pragma once

#include <QtGlobal>

// Something that looks at the bytes a flow moves (the capture; the HTTP
// proxy's front reading responses; later conditions and faults), told what
// passes without the flow knowing what it is. Each call names the
// direction by its source: fromClient.
class FlowObserver
{
public:
    // What the observer needs of the next bytes from one source.
    struct Window
    {
        // This many of the next bytes need only be counted (passed()), not
        // seen; 0 means every byte is to be seen.
        quint64 ahead = 0;
        // The first roomBytes of those bytes are copied here before passed().
        char *room = nullptr;
        qsizetype roomBytes = 0;
    };

    virtual ~FlowObserver() = default;

    // False once the observer no longer looks at that direction at all.
    virtual bool watching(bool fromClient) const = 0;
    virtual Window window(bool fromClient) = 0;
    virtual void seen(bool fromClient, const char *data, qsizetype size) = 0;
    // After window(): that many bytes of ahead went by (0: none, and the
    // room given is not filled).
    virtual void passed(bool fromClient, quint64 bytes) = 0;
};
