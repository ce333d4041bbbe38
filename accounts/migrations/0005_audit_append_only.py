"""The audit trail is append-only in the database itself (PostgreSQL): UPDATE and DELETE raise.
SQLite, the embedded default, relies on the code, which never updates or deletes an entry."""

from django.db import migrations

POSTGRES_UP = """
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON accounts_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
"""

POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS audit_entry_append_only ON accounts_auditentry;
DROP FUNCTION IF EXISTS audit_append_only();
"""


def up(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)


def down(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_auditentry")]
    operations = [migrations.RunPython(up, down)]
