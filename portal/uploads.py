"""Files sent through the portal's forms, read into the parts a case entry stores.

Limits: ``MAX_FILES`` per form, each file at most ``[mail]
max_attachment_bytes`` (the limit mail has too), all together at most
``[smtp_in] max_message_bytes``. The name is the one the browser sent,
made safe; the content type is guessed from the name, never trusted from the
browser, and downloads are served with ``nosniff`` anyway.
"""

from __future__ import annotations

import mimetypes

from maild.mail.message import Part
from portal.render import download_filename

MAX_FILES = 10


def describe(problem: str, gettext) -> str:
    """The message for a problem ``read`` reported, in the asker's language."""
    return {"too-many": gettext("Attach at most 10 files."),
            "too-large": gettext("A file is larger than the limit."),
            "too-large-together": gettext("The files are larger than the limit together.")}[problem]


def read(config, uploads) -> tuple[list[Part], str]:
    """(parts, "") for acceptable uploads, or ([], the problem: see ``describe``)."""
    uploads = [u for u in uploads if u is not None and (u.raw_filename or "").strip()]
    if len(uploads) > MAX_FILES:
        return [], "too-many"
    each, total = config["mail"]["max_attachment_bytes"], config["smtp_in"]["max_message_bytes"]
    parts, size = [], 0
    for upload in uploads:
        data = upload.file.read(each + 1)
        if len(data) > each:
            return [], "too-large"
        size += len(data)
        if size > total:
            return [], "too-large-together"
        # raw_filename keeps non-ASCII names (Bottle's filename strips them).
        name = download_filename(upload.raw_filename)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        parts.append(Part(filename=name, content_type=content_type, data=data))
    return parts, ""
