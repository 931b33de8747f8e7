"""Handler: the same message delivered twice becomes one entry (SPEC 2.4, MAIL_RULES 3, 4).

The key is the Message-ID (a synthetic, content-derived one when missing)
together with a digest of the body: an SMTP and an IMAP copy of one mail
differ only in trace headers, so they share both; a different message that
reuses a Message-ID has another body and is kept, with a warning. The unique
index on the key (written by ``record``) settles two runners racing.
"""

import logging

from maild.delivery import Discard
from maild.store import statements
from maild.store.models import InboundMessage

log = logging.getLogger(__name__)


def process(ctx, delivery) -> None:
    """Discard the delivery if this message was already processed."""
    msg = delivery.msg
    earlier = [(m.spool_id, m.body_sha256)
               for m in statements.select_by(InboundMessage, "message_id", msg.message_id[:250])]
    for spool_id, body in earlier:
        if body == msg.body_sha256 and spool_id != delivery.spool_id:
            raise Discard("duplicate", f"the same message as spool row {spool_id}")
    if earlier:
        log.warning("Message-ID reuse: <%s> arrived before with another body", msg.message_id)
        delivery.notes.append("Message-ID reused by a different message")
