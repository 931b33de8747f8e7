"""Delivery reports (RFC 3464): which recipients a report says failed, and with what status.

A report holds a ``message/delivery-status`` part: one header block about the
message, then one per recipient with ``Final-Recipient``, ``Action`` and
``Status``. Reading only: ``maild.bounces`` decides what a failure stops.
"""

from __future__ import annotations

import email
import email.policy
import re

# Reports are small; a huge one is not read whole.
MAX_REPORT_BYTES = 2_000_000
# RFC 3464 fields may carry comments: "Status: 5.1.1 (no such user)".
_STATUS = re.compile(r"\s*(\d\.\d{1,3}\.\d{1,3})")


def failed_recipients(raw: bytes) -> list[tuple[str, str]]:
    """(address, status) for every recipient a delivery report says failed; [] if it is not one.

    Parsed with the standard library, which splits a ``message/delivery-status``
    part into its header blocks; anything it cannot read yields nothing.
    """
    try:
        report = email.message_from_bytes(raw[:MAX_REPORT_BYTES], policy=email.policy.compat32)
        found = []
        for part in report.walk():
            if part.get_content_type() != "message/delivery-status":
                continue
            blocks = part.get_payload()
            # The first block is about the message; each later one a recipient.
            for block in blocks[1:] if isinstance(blocks, list) else []:
                action = (str(block.get("Action", "")).lower().split() or [""])[0]
                status_match = _STATUS.match(str(block.get("Status", "")))
                status = status_match.group(1) if status_match else ""
                recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
                kind, _, address = recipient.partition(";")
                if action == "failed" and kind.strip().lower() == "rfc822" and "@" in address:
                    found.append((address.strip().strip("<>").lower(), status))
        return found
    except (ValueError, TypeError, LookupError, IndexError, AttributeError):
        # A report too broken to read is kept as a note all the same; it just stops nobody.
        return []
