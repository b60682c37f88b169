"""Documents the document tests upload: a help-center article, a changed copy, a real PDF, and a web site."""

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARTICLE = """# Nimbus Solar Roof Kit

The Nimbus Solar Roof Kit powers a Nimbus Hub from the sun.

## Mounting

Fix the panel on a south-facing roof slope with the four stainless M8 bolts in the box.
The mounting rail must sit at least 30 cm from the roof edge.

## Winter care

Brush snow off the panel with the soft brush; never use a metal scraper.
The kit keeps working down to minus 25 degrees Celsius.

## Warranty

The solar panel has a 12-year warranty code SRK-7731; the charge controller has 3 years.
"""

# The same article with one section edited: only that section's chunk may be embedded again.
ARTICLE_EDITED = ARTICLE.replace("never use a metal scraper", "never use a metal scraper or hot water")


def pdf_bytes(lines: list[str]) -> bytes:
    """A minimal valid one-page PDF with Helvetica text, so the test needs no PDF writer library."""
    text = " T* ".join(f"({line})Tj" for line in lines)
    stream = f"BT /F1 12 Tf 14 TL 72 720 Td {text} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
         b"/Resources << /Font << /F1 5 0 R >> >> >>"),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


class Site:
    """A local web server with pages that tests can change between requests."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(self.path)
                if self.path not in site.pages:
                    self.send_error(404)
                    return
                content_type, body = site.pages[self.path]
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def sitemap(self, paths: list[str]) -> None:
        locations = "".join(f"<url><loc>{self.url}{path}</loc></url>" for path in paths)
        self.pages["/sitemap.xml"] = ("application/xml", (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locations}</urlset>').encode())


@contextmanager
def local_site():
    site = Site()
    thread = threading.Thread(target=site.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.server.shutdown()
        site.server.server_close()
