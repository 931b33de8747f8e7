"""The way out: the durable outbox, the worker that drains it, and the transports that hand mail on.

``outbox`` writes rows in the caller's transaction and claims, retries and
recovers them; ``sender`` is the worker loop; ``transport`` sends one message
through an SMTP relay or into a maildir.
"""
