"""Fetching help-center pages and sitemaps over HTTP(S) with httpx."""

from dataclasses import dataclass
from urllib.parse import urlparse
from xml.etree import ElementTree

import httpx

from retrieval.errors import DocumentTooLarge, FetchFailed

_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
MAX_SITEMAP_URLS = 10_000


@dataclass(frozen=True)
class Page:
    url: str
    data: bytes
    content_type: str | None


class Fetcher:
    def __init__(self, timeout_seconds: float = 20.0, max_bytes: int = 10_000_000,
                 transport: httpx.BaseTransport | None = None):
        self.timeout = timeout_seconds
        self.max_bytes = max_bytes
        self._transport = transport

    def fetch(self, url: str) -> Page:
        check_url(url)
        try:
            with (
                httpx.Client(timeout=self.timeout, follow_redirects=True, transport=self._transport,
                             headers={"User-Agent": "helpdesk-bot (knowledge base sync)"}) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code >= 400:
                    raise FetchFailed(f"{url}: the server answered HTTP {response.status_code}.")
                data = bytearray()
                for part in response.iter_bytes():
                    data += part
                    if len(data) > self.max_bytes:
                        raise DocumentTooLarge(url, len(data), self.max_bytes)
                return Page(str(response.url), bytes(data), response.headers.get("content-type"))
        except httpx.TimeoutException:
            raise FetchFailed(f"{url}: no answer within {self.timeout:g} s; is the site up?") from None
        except httpx.HTTPError as error:
            raise FetchFailed(f"{url}: cannot fetch it ({type(error).__name__}: {error}).") from None

    def sitemap_urls(self, url: str, depth: int = 0) -> list[str]:
        """Page URLs listed by a sitemap; a sitemap index is followed one level down."""
        page = self.fetch(url)
        try:
            root = ElementTree.fromstring(page.data)
        except ElementTree.ParseError as error:
            raise FetchFailed(f"{url}: not a sitemap (XML error: {error}).") from None
        locations = [loc.text.strip() for loc in root.iter(f"{_SITEMAP_NS}loc") if loc.text and loc.text.strip()]
        if root.tag == f"{_SITEMAP_NS}sitemapindex":
            if depth > 0:
                return []
            locations = [page_url for sitemap in locations for page_url in self.sitemap_urls(sitemap, depth + 1)]
        elif root.tag != f"{_SITEMAP_NS}urlset":
            raise FetchFailed(f"{url}: not a sitemap (root element {root.tag!r}).")
        return list(dict.fromkeys(locations))[:MAX_SITEMAP_URLS]


def check_url(url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise FetchFailed(f"{url!r} is not an http(s) URL.")
