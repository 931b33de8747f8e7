"""Reading and writing mail (RFC 5322 and kin): no store, no case, only messages and their parts.

``message`` reads what comes in, ``compose`` builds what goes out, and the
rest read or make one piece of a message: ``tnef`` (the files and body
inside Outlook's winmail.dat), ``uuencode`` (files uuencoded into a text),
``subject`` (case tokens), ``quotes`` (the new text of a reply), ``signing``
(our signed Message-IDs and reply addresses), ``dkimsign`` (DKIM
signatures), ``dsn`` (delivery reports), ``commands`` (an agent's commands
on the first lines) and ``urls`` (which links a page may keep).
"""
