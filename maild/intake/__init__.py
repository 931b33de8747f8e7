"""Ways mail comes in: SMTP, IMAP and the pipe; each writes only to the spool."""
