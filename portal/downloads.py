"""Serving a stored attachment: always as a download or a sandboxed image, never as a page.

Customers' and agents' file routes both answer through ``serve``, so a file
sent by mail is never rendered in the portal's origin whoever opens it: the
content type is one of a short safe list or octet-stream (never the sender's
HTML, SVG or XML), with ``nosniff``, a sandboxing CSP and no caching
(MAIL_RULES 70).
"""

from __future__ import annotations

import bottle

from maild.store.models import Attachment, Blob
from portal import render

# Content types a download may be served as; anything else is octet-stream.
SAFE_TYPES = {"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain",
              "text/csv", "application/zip", "application/msword", "application/vnd.ms-excel",
              "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
              "application/vnd.openxmlformats-officedocument.presentationml.presentation",
              "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet"}


def send_file(out, content_type: str, filename: str):
    """A file the portal made (a zip, a spreadsheet) as a download: rewound, with its headers; returned for Bottle."""
    out.seek(0)
    response = bottle.response
    response.content_type = content_type
    response.set_header("Content-Disposition", render.content_disposition(filename, inline=False))
    response.set_header("Cache-Control", "private, no-store")
    return out


def serve(attachment: Attachment, inline: bool = False) -> bytes:
    """The attachment's bytes, with the headers of a safe download set on the response."""
    data = Blob.get(Blob.sha256 == attachment.blob_id).data
    content_type = attachment.content_type.lower()
    response = bottle.response
    response.content_type = content_type if content_type in SAFE_TYPES else "application/octet-stream"
    response.set_header("Content-Disposition", render.content_disposition(attachment.filename, inline=inline))
    response.set_header("Cache-Control", "private, no-store")
    response.set_header("Content-Security-Policy", "default-src 'none'; sandbox")
    return bytes(data)
