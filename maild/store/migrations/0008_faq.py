"""FAQ articles, their full-text index (maild/search.py) and suggestion visits (frozen copies of the models).

The index is new and empty, so there is nothing to backfill. On SQLite a
trigger drops a deleted article's words, as the foreign key's ON DELETE
CASCADE does on PostgreSQL (see 0003 for the case index done alike).
Nothing here alters the "case" table: an article only points at it.
"""
from peewee import *

from maild.store.db import is_sqlite


def up(migrator, db):
    class Person(Model):
        class Meta:
            database = db
            table_name = 'person'

    class Case(Model):
        class Meta:
            database = db
            table_name = 'case'

    class Article(Model):
        title = CharField(max_length=200)
        body = TextField(default='')
        department = CharField(default='', index=True)
        tags = TextField(default='[]')
        language = CharField(default='en')
        published = BooleanField(default=False, index=True)
        published_at = DateTimeField(null=True)
        source_case = ForeignKeyField(Case, null=True, on_delete='SET NULL')
        author = ForeignKeyField(Person, null=True, on_delete='SET NULL')
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = 'article'

    class FaqVisit(Model):
        article = ForeignKeyField(Article, null=True, on_delete='SET NULL')
        department = CharField()
        request = CharField()
        opened_at = DateTimeField(index=True)
        submitted = BooleanField(default=False)

        class Meta:
            database = db
            table_name = 'faq_visit'
            indexes = ((('request', 'article'), True),)

    db.create_tables([Article, FaqVisit])
    if is_sqlite(db):
        # unicode61 without diacritic folding, as search_doc: "å" is a letter of its own.
        db.execute_sql("CREATE VIRTUAL TABLE faq_doc USING fts5("
                       "title, body, tokenize = 'unicode61 remove_diacritics 0')")
        db.execute_sql("CREATE TRIGGER faq_doc_article_deleted AFTER DELETE ON article BEGIN "
                       "DELETE FROM faq_doc WHERE rowid = old.id; END")
    else:
        db.execute_sql('CREATE TABLE faq_doc ('
                       'article_id INTEGER PRIMARY KEY REFERENCES article (id) ON DELETE CASCADE, '
                       'document TSVECTOR NOT NULL)')
        db.execute_sql("CREATE INDEX faq_doc_document ON faq_doc USING GIN (document)")


def down(migrator, db):
    if is_sqlite(db):
        db.execute_sql("DROP TRIGGER faq_doc_article_deleted")
    for table in ('faq_doc', 'faq_visit', 'article'):
        db.execute_sql(f'DROP TABLE {table}')
