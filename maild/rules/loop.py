"""Inbound rule: our own mail coming back is a loop (MAIL_RULES 34).

It carries our loop header with this installation's id, or its Message-ID is
one we generated and signed. Such mail is ignored, never a case: answering it
would start a mail loop (RT ``CheckForLoops``, Zammad
``own_notification_loop_detection``).
"""

from maild.mail.compose import LOOP_HEADER

NAME = "loop"
DESCRIPTION = "Sensedesk's own mail came back"


def matches(ctx, delivery) -> bool:
    """Whether the message is one we sent."""
    msg = delivery.msg
    loop_values = [v.strip() for v in msg.headers.get(LOOP_HEADER.lower(), [])]
    if ctx.instance_id in loop_values:
        return True
    return not msg.synthetic_id and ctx.signer.read_message_id(msg.message_id) is not None
