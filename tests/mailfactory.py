"""A small factory for test messages, built with CRLF line endings (policy.SMTP)."""

from __future__ import annotations

import email.policy
import email.utils
import itertools
from email.message import EmailMessage

_counter = itertools.count(1)


def make_mail(subject: str = "Printer is broken", sender: str = "kari@example.org",
              to: str = "helpdesk@example.test", body: str = "The printer on floor 2 is broken.\n",
              message_id: str | None = None, in_reply_to: str = "", references: str = "",
              cc: str = "", headers: dict | None = None, sender_name: str = "Kari Nordmann",
              attachments: list[tuple[str, str, bytes]] = (), html: str = "",
              inline: list[tuple[str, str, bytes, str]] = ()) -> bytes:
    """A message as bytes; a unique Message-ID unless one is given ("" for none).

    ``html`` adds an HTML alternative; ``inline`` adds (name, type, bytes,
    content-id) parts related to it, as mail clients send pictures in the text.
    """
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = email.utils.formataddr((sender_name, sender)) if sender_name else sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate()
    if message_id is None:
        message_id = f"<test{next(_counter)}.{id(msg)}@example.org>"
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
        html_part = msg.get_body(("html",))
        for filename, content_type, data, cid in inline:
            maintype, _, subtype = content_type.partition("/")
            html_part.add_related(data, maintype=maintype, subtype=subtype, cid=f"<{cid}>",
                                  filename=filename, disposition="inline")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()
