"""The terminal widths at which the dashboard changes its layout: one place for the app's breakpoints and for the
screens and widgets that size themselves by them."""

NARROW_BELOW = 100  # columns: below, panes stack and the runs list drops DATA
WIDE_FROM = 150
HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_BELOW, "-normal"), (WIDE_FROM, "-wide")]
