"""The runner's hot statements, their SQL written once per shape and reused.

peewee builds a statement's SQL anew on every call, about 100 µs each on this
machine, against 14 µs to run the same INSERT from a ready string; the runner
makes about 16 statements per message, so SQL building was a third of its time
(bench/ingest.py, py-spy). The three shapes on its hot path (insert a row,
update a row by id, read rows by one column) are therefore written here from
the model's own metadata, once per (model, columns, database), and cached.
Values go through each field's ``db_value`` and ``python_value``, exactly as
peewee converts them. Everything else keeps using peewee's query builder.
"""

from __future__ import annotations

from peewee import Model, SqliteDatabase

from maild.store.models import database

_SQL: dict = {}


def _db(model: type[Model]):
    db = model._meta.database
    return getattr(db, "obj", None) or db  # the DatabaseProxy's database


def _quote(name: str) -> str:
    # Our own table and column names: known, plain identifiers.
    return f'"{name}"'


def _cached(key, build) -> str:
    sql = _SQL.get(key)
    if sql is None:
        sql = _SQL[key] = build()
    return sql


def _with_defaults(model: type[Model], values: dict) -> dict:
    """The values plus the field defaults peewee's own insert would add."""
    out = dict(values)
    for name, field in model._meta.fields.items():
        if name not in out and not field.primary_key and field.default is not None:
            out[name] = field.default() if callable(field.default) else field.default
    return out


def insert(model: type[Model], values: dict, ignore_conflict: bool = False) -> int | None:
    """Insert one row; return its id (None when ``ignore_conflict`` skipped it or there is none)."""
    db = _db(model)
    values = _with_defaults(model, values)
    fields = model._meta.fields
    names = tuple(values)
    pk = model._meta.primary_key
    returning = bool(getattr(db, "returning_clause", False)) and pk is not None and pk.name == "id"

    def build() -> str:
        columns = ", ".join(_quote(fields[n].column_name) for n in names)
        marks = ", ".join([db.param] * len(names))
        table = _quote(model._meta.table_name)
        sqlite = isinstance(db, SqliteDatabase)
        verb = "INSERT OR IGNORE INTO" if ignore_conflict and sqlite else "INSERT INTO"
        sql = f"{verb} {table} ({columns}) VALUES ({marks})"
        if ignore_conflict and not sqlite:
            sql += " ON CONFLICT DO NOTHING"
        if returning:
            sql += f' RETURNING {_quote("id")}'
        return sql

    sql = _cached(("insert", model, names, ignore_conflict, type(db)), build)
    cursor = db.execute_sql(sql, [fields[n].db_value(values[n]) for n in names])
    if returning:
        row = cursor.fetchone()
        return row[0] if row else None
    if ignore_conflict:
        return None
    return cursor.lastrowid


def create(model: type[Model], **values):
    """Insert a row and return it as a model instance, as ``Model.create`` does."""
    values = _with_defaults(model, values)
    row_id = insert(model, values)
    instance = model(**values)
    if model._meta.primary_key is not None and model._meta.primary_key.name == "id":
        instance.id = row_id
    instance._dirty.clear()
    return instance


def update(model: type[Model], row_id, values: dict) -> int:
    """Update the row with this id; return the number of rows changed."""
    db = _db(model)
    fields = model._meta.fields
    names = tuple(values)

    def build() -> str:
        assignments = ", ".join(f"{_quote(fields[n].column_name)} = {db.param}" for n in names)
        return f'UPDATE {_quote(model._meta.table_name)} SET {assignments} WHERE {_quote("id")} = {db.param}'

    sql = _cached(("update", model, names, type(db)), build)
    params = [fields[n].db_value(values[n]) for n in names] + [row_id]
    return db.execute_sql(sql, params).rowcount


def select_by(model: type[Model], column: str, value, limit: int | None = None) -> list:
    """Rows whose ``column`` equals ``value``, as model instances, oldest id first."""
    db = _db(model)
    fields = model._meta.fields
    names = tuple(fields)

    def build() -> str:
        columns = ", ".join(_quote(fields[n].column_name) for n in names)
        order = f' ORDER BY {_quote("id")}' if "id" in fields else ""
        sql = (f"SELECT {columns} FROM {_quote(model._meta.table_name)} "
               f"WHERE {_quote(fields[column].column_name)} = {db.param}{order}")
        return sql + (f" LIMIT {int(limit)}" if limit else "")

    sql = _cached(("select", model, column, limit, type(db)), build)
    return instances(model, db.execute_sql(sql, [fields[column].db_value(value)]))


def instances(model: type[Model], cursor) -> list:
    """Model instances from a cursor over all of the model's columns, in field order."""
    fields = model._meta.fields
    names = tuple(fields)
    out = []
    for row in cursor.fetchall():
        instance = model(**{n: fields[n].python_value(v) for n, v in zip(names, row, strict=True)})
        instance._dirty.clear()
        out.append(instance)
    return out


def query(key: str, build, params: list):
    """Run a query whose SQL peewee builds once, from ``build()``, and is cached under ``key``.

    ``params`` are this call's values in the order the query's expressions
    name them (left to right), as peewee itself would pass them.
    """
    db = getattr(database, "obj", None) or database
    sql = _cached(("query", key, type(db)), lambda: build().sql()[0])
    return db.execute_sql(sql, params)

