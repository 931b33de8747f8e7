"""The context every operation runs in: configuration, store, signer, templates.

Built once by the composition root (``cli``/``daemon``) and passed explicitly;
there are no module-level globals (docs/architecture.md, "Decide, then act").
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import jinja2
import jinja2.sandbox
from peewee import Database

from maild.config import Config, secret_from_env
from maild.mail.signing import Signer, new_secret
from maild.store import db as store
from maild.store.models import Setting

def _templates_dir() -> Path:
    """``templates/`` beside the package in a checkout, else where ``pip install`` put it."""
    beside = Path(__file__).resolve().parent.parent / "templates"
    if beside.is_dir():
        return beside
    return Path(sys.prefix) / "share" / "sensedesk" / "templates"


TEMPLATES_DIR = _templates_dir()


class StoreNotReady(Exception):
    """The store has no schema yet: ``sensedesk init`` has not been run."""


@dataclasses.dataclass
class Context:
    """What domain operations need: config, database, signer and mail templates."""

    config: Config
    db: Database
    signer: Signer
    instance_id: str
    mail_templates: jinja2.Environment
    # Set when new outbox rows are committed, so the worker sends at once.
    outbox_wakeup: threading.Event = dataclasses.field(default_factory=threading.Event)
    # Set when new spool rows are committed, so the runner processes at once.
    spool_wakeup: threading.Event = dataclasses.field(default_factory=threading.Event)
    # Set while the SMTP receiver waits to commit; the runner yields the store to it.
    intake_waiting: threading.Event = dataclasses.field(default_factory=threading.Event)
    # Configured agents and notify addresses by address (people.load_staff).
    staff: dict = dataclasses.field(default_factory=dict)
    # When the cached staff's bounce stops were last read (bounces.refresh_staff; time.monotonic()).
    staff_stops_read_at: float = float("-inf")
    # Intake forms by id: set by the portal at start, else read on first use (notify.installed_forms).
    forms: dict | None = None
    # Inside the daemon: the names of its parts that have stopped (Daemon.down); None elsewhere.
    health: Callable[[], list[str]] | None = None

    @property
    def var_dir(self) -> Path:
        """Directory for data files."""
        return Path(self.config["site"]["var_dir"])


SUBJECT, BODY = "#subject", "#body"


class MailTemplateLoader(jinja2.FileSystemLoader):
    """Mail templates, each also as two: ``name#subject`` (its first line) and ``name#body`` (the rest).

    The subject is rendered on its own, so that no value can add lines to it
    and push the template's words down into the body (a subject typed with a
    line break once forged the top of the agents' mail).
    """

    def get_source(self, environment, template):
        """The source of a template, or of its subject line or body."""
        for part in (SUBJECT, BODY):
            if template.endswith(part):
                source, filename, uptodate = super().get_source(environment, template[:-len(part)])
                subject, _, body = source.partition("\n")
                return (subject if part == SUBJECT else body), filename, uptodate
        return super().get_source(environment, template)


def mail_environment() -> jinja2.Environment:
    """Jinja2 for mail templates: sandboxed, plain text, no autoescape."""
    return jinja2.sandbox.SandboxedEnvironment(
        loader=MailTemplateLoader(str(TEMPLATES_DIR / "mail")),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        # Templates change with a release, not while the daemon runs: no stat() per mail.
        auto_reload=False,
    )


def ensure_settings(db: Database) -> None:
    """Create the signing secret and instance id if the store has none (init)."""
    with db.atomic():
        for key in ("secret", "instance_id"):
            value = new_secret() if key == "secret" else new_secret()[:16]
            Setting.insert(key=key, value=value).on_conflict_ignore().execute()


def build(config: Config) -> Context:
    """Connect to the store and assemble a Context. Raises StoreNotReady before init."""
    db = store.connect(config["database"]["url"])
    if store.pending_migrations(db):
        raise StoreNotReady("the store is not initialised or not migrated: run 'sensedesk init'")
    stored = dict(Setting.select(Setting.key, Setting.value).tuples())
    secret = secret_from_env(config["site"]["secret_env"]) or stored.get("secret", "")
    if not secret or "instance_id" not in stored:
        raise StoreNotReady("the store has no signing secret: run 'sensedesk init'")
    signer = Signer(secret.encode("utf-8"), config["site"]["mail_domain"].lower())
    return Context(config=config, db=db, signer=signer, instance_id=stored["instance_id"],
                   mail_templates=mail_environment())
