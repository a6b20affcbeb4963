"""Reading a rendered report page the way its reader does: a table's rows as cell texts."""

from __future__ import annotations

from html.parser import HTMLParser


class _TableRows(HTMLParser):
    """The rows of the page's ``table.<css_class>``, as cell texts (a line break inside a
    cell reads as `` | ``)."""

    def __init__(self, css_class: str) -> None:
        super().__init__()
        self.css_class = css_class
        self.rows: list[list[str]] = []
        self._inside = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._inside = ("class", self.css_class) in attrs
        elif self._inside and tag == "tr":
            self.rows.append([])
        elif self._inside and tag in ("td", "th"):
            self._cell = []
        elif self._inside and tag == "br" and self._cell is not None:
            self._cell.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._inside = False
        elif self._inside and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str, css_class: str) -> list[list[str]]:
    """The rows of ``html``'s ``table.<css_class>``, each as its cells' texts."""
    parser = _TableRows(css_class)
    parser.feed(html)
    return parser.rows
