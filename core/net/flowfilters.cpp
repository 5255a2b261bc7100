#include "flowfilters.h"

#include <algorithm>
#include <cstring>

void FlowFilters::add(FlowObserver *observer)
{
    m_observers.push_back(observer);
}

void FlowFilters::remove(FlowObserver *observer)
{
    m_observers.erase(std::remove(m_observers.begin(), m_observers.end(), observer), m_observers.end());
}

FlowObserver *FlowFilters::forFlows()
{
    if (m_observers.empty())
        return nullptr;
    return m_observers.size() == 1 ? m_observers.front() : this;
}

bool FlowFilters::watching(bool fromClient) const
{
    return std::any_of(m_observers.begin(), m_observers.end(),
                       [fromClient](const FlowObserver *observer) { return observer->watching(fromClient); });
}

FlowObserver::Window FlowFilters::window(bool fromClient)
{
    if (!m_stretches)
        m_stretches = std::make_unique<std::array<Stretch, 2>>();
    Stretch &stretch = (*m_stretches)[fromClient];
    std::vector<Asked> &asked = stretch.asked;
    asked.clear();
    Window given;
    for (FlowObserver *observer : m_observers) {
        if (!observer->watching(fromClient))
            continue;
        const Window window = observer->window(fromClient);
        if (window.ahead == 0) {
            // It sees every byte, so every byte is shown: those asked
            // before it let none go by after all.
            for (const Asked &earlier : asked)
                earlier.observer->passed(fromClient, 0);
            asked.clear();
            return stretch.given = Window();
        }
        asked.push_back({observer, window});
        if (given.ahead == 0 || window.ahead < given.ahead)
            given.ahead = window.ahead;
        if (window.roomBytes > given.roomBytes) {
            given.room = window.room;
            given.roomBytes = window.roomBytes;
        }
    }
    // The bytes copied are within the stretch each lets go by.
    if (given.roomBytes > 0 && quint64(given.roomBytes) > given.ahead)
        given.roomBytes = qsizetype(given.ahead);
    return stretch.given = given;
}

FlowObserver::Verdict FlowFilters::seen(bool fromClient, const char *data, qsizetype size)
{
    quint64 stop = NoStop;
    for (FlowObserver *observer : m_observers) {
        const quint64 at = observer->watching(fromClient) ? observer->seen(fromClient, data, size).at
                                                          : observer->stopAt(fromClient);
        stop = qMin(stop, at);
    }
    return Verdict::stopAt(stop);
}

quint64 FlowFilters::stopAt(bool fromClient) const
{
    quint64 stop = NoStop;
    for (const FlowObserver *observer : m_observers)
        stop = qMin(stop, observer->stopAt(fromClient));
    return stop;
}

void FlowFilters::ended(bool fromClient)
{
    for (FlowObserver *observer : m_observers)
        observer->ended(fromClient);
}

void FlowFilters::passed(bool fromClient, quint64 bytes)
{
    if (!m_stretches)
        return; // no window() was asked
    Stretch &stretch = (*m_stretches)[fromClient];
    const Window &given = stretch.given;
    const qsizetype copied = given.roomBytes > 0 ? qsizetype(qMin<quint64>(bytes, quint64(given.roomBytes))) : 0;
    for (const Asked &asked : stretch.asked) {
        const Window &window = asked.window;
        if (copied > 0 && window.room && window.room != given.room)
            std::memcpy(window.room, given.room, size_t(qMin(copied, window.roomBytes)));
        asked.observer->passed(fromClient, bytes);
    }
    stretch.asked.clear();
}
