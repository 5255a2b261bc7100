#include "tableviews.h"

#include <QHeaderView>
#include <QMenu>
#include <QScrollBar>
#include <QTableView>

namespace TableViews {

QTableView *make(const QString &name, QAbstractItemModel *model, QWidget *parent)
{
    auto *view = new QTableView(parent);
    view->setObjectName(name);
    view->setModel(model);
    view->setSortingEnabled(true);
    view->setSelectionBehavior(QAbstractItemView::SelectRows);
    view->setSelectionMode(QAbstractItemView::SingleSelection);
    view->setAlternatingRowColors(true);
    view->setWordWrap(false);
    view->verticalHeader()->hide();
    view->verticalHeader()->setDefaultSectionSize(view->fontMetrics().height() + 6);
    view->horizontalHeader()->setSectionsMovable(true);
    view->horizontalHeader()->setHighlightSections(false);
    view->horizontalHeader()->setStretchLastSection(true);
    installColumnMenu(view);
    return view;
}

void installColumnMenu(QTableView *view)
{
    QHeaderView *header = view->horizontalHeader();
    header->setContextMenuPolicy(Qt::CustomContextMenu);
    QObject::connect(header, &QHeaderView::customContextMenuRequested, view, [view, header](const QPoint &at) {
        QMenu menu;
        QAbstractItemModel *model = view->model();
        for (int column = 0; column < model->columnCount(); ++column) {
            QAction *action = menu.addAction(model->headerData(column, Qt::Horizontal).toString());
            action->setCheckable(true);
            action->setChecked(!header->isSectionHidden(column));
            QObject::connect(action, &QAction::toggled, header, [header, column](bool shown) {
                header->setSectionHidden(column, !shown);
            });
        }
        // The column under the pointer moves one place either way; dragging
        // a header does the same.
        const int clicked = header->logicalIndexAt(at);
        if (clicked >= 0) {
            const QString name = model->headerData(clicked, Qt::Horizontal).toString();
            const int visual = header->visualIndex(clicked);
            menu.addSeparator();
            QAction *left = menu.addAction(QObject::tr("Move “%1” left").arg(name), header, [header, clicked] {
                const int from = header->visualIndex(clicked);
                header->moveSection(from, from - 1);
            });
            left->setEnabled(visual > 0);
            QAction *right = menu.addAction(QObject::tr("Move “%1” right").arg(name), header, [header, clicked] {
                const int from = header->visualIndex(clicked);
                header->moveSection(from, from + 1);
            });
            right->setEnabled(visual < header->count() - 1);
        }
        menu.addSeparator();
        menu.addAction(QObject::tr("Show all columns"), header, [header, model] {
            for (int column = 0; column < model->columnCount(); ++column)
                header->setSectionHidden(column, false);
        });
        menu.addAction(QObject::tr("Original order"), header, [header] {
            for (int logical = 0; logical < header->count(); ++logical)
                header->moveSection(header->visualIndex(logical), logical);
        });
        menu.exec(header->mapToGlobal(at));
    });
}

void followNewRows(QTableView *view, bool *follow)
{
    // New rows scroll into view while the user is at the bottom; scrolling
    // away stops that, scrolling back to the bottom resumes it.
    QScrollBar *bar = view->verticalScrollBar();
    QObject::connect(bar, &QScrollBar::valueChanged, view, [bar, follow](int value) { *follow = value >= bar->maximum(); });
    QObject::connect(bar, &QScrollBar::rangeChanged, view, [bar, follow](int, int maximum) {
        if (*follow)
            bar->setValue(maximum);
    });
}

} // namespace TableViews
