#pragma once

#include <QString>

class QAbstractItemModel;
class QTableView;
class QWidget;

// How the window's tables look and behave, the same for each: rows
// selected whole, sortable, columns movable, a header menu to hide, show
// and move columns, and new rows followed while the user is at the bottom.
namespace TableViews {

// A table named name over model, set up as every table of the window is.
QTableView *make(const QString &name, QAbstractItemModel *model, QWidget *parent);
// The header's menu: each column shown or hidden, the one under the
// pointer moved one place either way, all shown, the original order.
void installColumnMenu(QTableView *view);
// New rows scroll into view while *follow, which scrolling away from the
// bottom clears and scrolling back to it sets.
void followNewRows(QTableView *view, bool *follow);

} // namespace TableViews
