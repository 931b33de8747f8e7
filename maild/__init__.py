"""Sensedesk's mail daemon and domain: intake, spool, runner, cases, notifications, outbox."""
