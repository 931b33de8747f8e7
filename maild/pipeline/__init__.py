"""The pipeline: handlers that act on a delivery once the rules have decided.

A pipeline is a tuple of handler module names run in order; each has
``process(ctx, delivery)`` and stops the pipeline by raising ``Discard``.
"""

from __future__ import annotations

import importlib

PIPELINE = ("dedupe", "person", "thread", "record")


def run(ctx, delivery, pipeline=PIPELINE) -> None:
    """Run each handler of the pipeline on the delivery, in order."""
    for name in pipeline:
        importlib.import_module(f"maild.pipeline.{name}").process(ctx, delivery)
