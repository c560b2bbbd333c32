"""The `?` panel: the keys of the screen on show, then the app's, named as in the footer, then the navigation keys
of the focused widget and Textual's own. Textual's panel lists the focused widget's keys first (a table's sixteen
cursor keys before seglab's) and names a key the widget shadows by the widget's action ("Select", not "open")."""

from __future__ import annotations

from collections.abc import Iterator

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.widgets import Static

SEGLAB_MODULES = "tui."  # bindings declared by seglab's own classes, not inherited from Textual's


def own_bindings(node: DOMNode) -> Iterator[Binding]:
    """The bindings seglab's classes declare on `node` (its screen or app class and their seglab bases), most
    derived first, each key once."""
    seen: set[str] = set()
    for cls in type(node).__mro__:
        if not cls.__module__.startswith(SEGLAB_MODULES):
            continue
        for binding in Binding.make_bindings(cls.__dict__.get("BINDINGS", [])):
            if binding.key not in seen and binding.description:
                seen.add(binding.key)
                yield binding


def offered(node: DOMNode, binding: Binding) -> bool | None:
    """Whether the node offers the binding's action now (False: hidden; None: shown dimmed), as the footer asks."""
    action = binding.action.rpartition(".")[2]  # "app.quit" asks the node that declared it
    return node.check_action(action, ())


class KeyTable(Static):
    """The table of keys, in three sections; re-rendered when the screen's bindings change."""

    COMPONENT_CLASSES = {"key-table--key", "key-table--title"}

    def render(self) -> Table:
        screen, app = self.screen, self.app
        table = Table(box=None, show_header=False, padding=(0, 1))
        table.add_column(justify="right")
        table.add_column()
        listed: set[str] = set()
        sections = [(screen.__class__.__name__.removesuffix("Screen").lower() or "screen", screen),
                    ("app", app)]
        for title, node in sections:
            rows = []
            for binding in own_bindings(node):
                state = offered(node, binding)
                if state is False or binding.key in listed:
                    continue
                listed.add(binding.key)
                rows.append((binding, state))
            if rows:
                self._add_section(table, title, rows)
        navigation = []
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if key in listed or not binding.description or binding.system:
                continue
            listed.add(key)
            navigation.append((binding, active.enabled))
        if navigation:
            self._add_section(table, "navigation", navigation)
        return table

    def _add_section(self, table: Table, title: str, rows: list[tuple[Binding, bool | None]]) -> None:
        if table.row_count:
            table.add_row("", "")
        table.add_row("", Text(title, style=self.get_component_rich_style("key-table--title")))
        by_action: dict[str, list[Binding]] = {}
        enabled: dict[str, bool | None] = {}
        for binding, state in rows:  # keys of one action share a row ("? f1  keys")
            by_action.setdefault(binding.action, []).append(binding)
            enabled.setdefault(binding.action, state)
        key_style = self.get_component_rich_style("key-table--key")
        for action, bindings in by_action.items():
            keys = " ".join(dict.fromkeys(self.app.get_key_display(binding) for binding in bindings))
            dim = Style(dim=not enabled[action])  # None: offered but not usable now
            table.add_row(Text(keys, style=key_style + dim), Text(bindings[0].description, style=dim))


class KeysPanel(VerticalScroll, can_focus=False):
    """The panel `?` opens beside the screen (styles: tui/seglab.tcss)."""

    def compose(self) -> ComposeResult:
        yield KeyTable()

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen) -> None:
        self.query_one(KeyTable).refresh()
