"""Turning uploaded bytes (Markdown, HTML, plain text, PDF) into a title and headed sections."""

import io
from dataclasses import dataclass
from pathlib import PurePath

from bs4 import BeautifulSoup
from markdown_it import MarkdownIt
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from retrieval.chunking import Section
from retrieval.errors import EmptyDocument, InvalidDocument, UnsupportedDocument

MEDIA_TYPES = {
    ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".txt": "text", ".pdf": "pdf",
}
_CONTENT_TYPES = {
    "text/markdown": "markdown", "text/x-markdown": "markdown", "text/html": "html",
    "application/xhtml+xml": "html", "text/plain": "text", "application/pdf": "pdf",
}
_HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]
_BLOCKS = ["p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption"]
_INVISIBLE = ["script", "style", "noscript", "template", "svg", "nav"]
_PATH_SEPARATOR = " › "


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    media_type: str
    sections: list[Section]


def media_type_of(name: str, content_type: str | None = None) -> str:
    """By file extension, else by HTTP content type (URLs often have no extension)."""
    suffix = PurePath(name).suffix.lower()
    if suffix in MEDIA_TYPES:
        return MEDIA_TYPES[suffix]
    base = (content_type or "").split(";")[0].strip().lower()
    if base in _CONTENT_TYPES:
        return _CONTENT_TYPES[base]
    raise UnsupportedDocument(
        f"{name}: unsupported type {suffix or base or 'unknown'}; upload Markdown (.md), HTML (.html), "
        "plain text (.txt) or PDF (.pdf)."
    )


def parse(data: bytes, media_type: str, name: str) -> ParsedDocument:
    parsers = {"markdown": _markdown, "html": _html, "text": _text, "pdf": _pdf}
    title, sections = parsers[media_type](data, name)
    title = title or PurePath(name).stem or name
    # The title is cited with every chunk already; a section path that repeats it would say it twice.
    sections = [Section(_without_title(section.heading, title), section.text)
                for section in sections if section.text.strip()]
    if not sections:
        raise EmptyDocument(f"{name}: the document has no text to search (a scanned PDF needs OCR first).")
    return ParsedDocument(title, media_type, sections)


def _without_title(heading: str, title: str) -> str:
    if heading == title:
        return ""
    return heading.removeprefix(title + _PATH_SEPARATOR)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidDocument(f"{name}: not UTF-8 text; save it as UTF-8 and upload it again.") from None


def _text(data: bytes, name: str) -> tuple[str, list[Section]]:
    return "", [Section("", _decode(data, name))]


def _markdown(data: bytes, name: str) -> tuple[str, list[Section]]:
    """Split at ATX and setext headings, found by a real parser so `#` lines in code blocks stay text."""
    lines = _decode(data, name).splitlines()
    tokens = MarkdownIt("commonmark").parse("\n".join(lines))
    headings = [(token.map, int(token.tag[1]), tokens[i + 1].content.strip())
                for i, token in enumerate(tokens) if token.type == "heading_open" and token.map]
    title = next((text for _, level, text in headings if level == 1), "")
    sections, path, start = [], [], 0
    for (first, last), level, text in headings:
        sections.append(Section(_PATH_SEPARATOR.join(path), "\n".join(lines[start:first])))
        path = path[: level - 1] + [text]
        start = last
    sections.append(Section(_PATH_SEPARATOR.join(path), "\n".join(lines[start:])))
    return title, sections


def _html(data: bytes, name: str) -> tuple[str, list[Section]]:
    soup = BeautifulSoup(data, "html.parser")
    for element in soup.find_all(_INVISIBLE):
        element.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if soup.title:
        soup.title.decompose()
    sections, path, blocks = [], [], []
    for element in soup.find_all(_HEADINGS + _BLOCKS):
        if element.name in _BLOCKS and element.find_parent(_BLOCKS):
            continue  # its text is already part of the enclosing block
        text = element.get_text(" ", strip=True)
        if element.name in _HEADINGS:
            sections.append(Section(_PATH_SEPARATOR.join(path), "\n\n".join(blocks)))
            path, blocks = path[: int(element.name[1]) - 1] + [text], []
            title = title or text
        elif text:
            blocks.append(text)
    sections.append(Section(_PATH_SEPARATOR.join(path), "\n\n".join(blocks)))
    if not any(section.text.strip() for section in sections):  # no block markup at all: take the text
        sections = [Section("", soup.get_text("\n\n", strip=True))]
    return title, sections


def _pdf(data: bytes, name: str) -> tuple[str, list[Section]]:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidDocument(f"{name}: the PDF is password-protected; upload an unprotected copy.")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except InvalidDocument:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as error:
        raise InvalidDocument(f"{name}: not a readable PDF ({error}); check that the file is complete.") from None
    return title, [Section(f"page {number}", text) for number, text in enumerate(pages, start=1)]
