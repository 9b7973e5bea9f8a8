"""A strict little HTML reader for the report tests: tags must nest, text and images are kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"meta", "img", "br", "hr", "link", "input", "source", "col", "area", "base", "wbr"}


@dataclass
class Parsed:
    tags: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    classes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    attributes: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    pre: list[str] = field(default_factory=list)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = Parsed()
        self.stack: list[str] = []
        self.chunks: list[str] = []
        self.pre_depth = 0
        self.pre_chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.tags.append(tag)
        for name, value in attrs:
            self.out.attributes.append((name, value or ""))
            if name == "id" and value:
                self.out.ids.add(value)
            if name == "class" and value:
                self.out.classes.extend(value.split())
        if tag == "img":
            self.out.images.append(dict(attrs).get("src") or "")
        if tag == "pre":
            self.pre_depth += 1
            self.pre_chunks = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()
        if tag == "pre":
            self.pre_depth -= 1
            self.out.pre.append("".join(self.pre_chunks))

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)
        if self.pre_depth:
            self.pre_chunks.append(data)


def parse(html: str) -> Parsed:
    """Parse ``html``; an unclosed or mismatched tag fails the test."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    assert reader.stack == [], f"unclosed tags: {reader.stack}"
    reader.out.text = " ".join(" ".join(reader.chunks).split())
    return reader.out
