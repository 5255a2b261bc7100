#pragma once

#include <QString>

// The colours of the window's notices: errors red, warnings amber.
namespace BannerStyle {

inline QString error()
{
    return QStringLiteral("QLabel { background: #fde2e0; color: #8a1c12; padding: 4px 8px; }");
}

inline QString warning()
{
    return QStringLiteral("QLabel { background: #fff3cd; color: #6b4e00; padding: 4px 8px; }");
}

} // namespace BannerStyle
