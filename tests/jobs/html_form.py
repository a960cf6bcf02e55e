"""Read a rendered HTML form as a browser without JavaScript would: what it submits, and its labels."""

from __future__ import annotations

from html.parser import HTMLParser


class FormReader(HTMLParser):
    """The controls of the page's forms: what a plain submit sends, and which ids have a label."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.data: list[tuple[str, str]] = []
        self.controls: list[dict] = []  # every visible control's attributes
        self.labelled: set[str] = set()
        self._select: dict | None = None
        self._options: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "label" and "for" in a:
            self.labelled.add(a["for"])
        elif tag == "input":
            self._input(a)
        elif tag in ("select", "textarea"):
            self.controls.append(a | {"tag": tag})
            self._select, self._options = (a, []) if tag == "select" else (None, [])
        elif tag == "option" and self._select is not None:
            self._options.append(a)

    def _input(self, a: dict) -> None:
        kind = a.get("type", "text")
        if kind != "hidden" and kind not in ("submit", "button"):
            self.controls.append(a | {"tag": "input"})
        if "name" not in a or "disabled" in a or kind in ("submit", "button"):
            return
        if kind in ("checkbox", "radio"):
            if "checked" in a:
                self.data.append((a["name"], a.get("value", "on")))
            return
        self.data.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag != "select" or self._select is None:
            return
        chosen = [o for o in self._options if "selected" in o] or self._options[:1]
        if chosen and "name" in self._select and "disabled" not in self._select:
            self.data.append((self._select["name"], chosen[0].get("value", "")))
        self._select = None


def read_form(body: str) -> FormReader:
    reader = FormReader()
    reader.feed(body)
    return reader


def submitted(body: str) -> dict[str, str]:
    """The fields a browser without JavaScript sends when the form is submitted unchanged."""
    return dict(read_form(body).data)
