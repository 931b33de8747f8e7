"""Handler: who sent the message — the one From address, else the envelope sender.

From is identity, not authentication (SPEC 4, MAIL_RULES 45): Reply-To never
decides who a sender is. A message with no usable sender still becomes a case,
from a placeholder person who is never mailed.
"""

import re

from maild import bounces, people

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def process(ctx, delivery) -> None:
    """Find or create the sending person."""
    msg = delivery.msg
    address, name = msg.from_address, msg.from_name
    if not address and _ADDRESS.match(delivery.envelope.mail_from or ""):
        address = delivery.envelope.mail_from.lower()
        delivery.notes.append("no usable From: the envelope sender is taken")
    if not address:
        address, name = people.UNKNOWN_SENDER, "(unknown sender)"
        delivery.notes.append("no usable sender address")
    delivery.person = people.find_or_create(address, name, now=delivery.now)
    if not delivery.bounce:
        # Their own mail (even an out-of-office) proves the address works again.
        bounces.wrote_again(ctx, delivery.person)
