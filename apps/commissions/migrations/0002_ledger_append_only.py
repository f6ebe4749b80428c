"""The ledger is append-only in the database too: on PostgreSQL a trigger refuses UPDATE and DELETE.

Python refuses them as well (LedgerEntry.save/delete), but a raw UPDATE, a queryset .update() or a
psql session would not go through Python. TRUNCATE is left alone: it is what test databases and
`flush` use, and it needs the table owner's rights anyway. SQLite gets no trigger (development only).
"""

from django.db import migrations

TABLE = "commissions_ledgerentry"

CREATE = f"""
CREATE OR REPLACE FUNCTION commissions_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'commissions ledger is append-only: % refused on entry %', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS commissions_ledger_append_only ON {TABLE};
CREATE TRIGGER commissions_ledger_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION commissions_ledger_append_only();
"""

DROP = f"""
DROP TRIGGER IF EXISTS commissions_ledger_append_only ON {TABLE};
DROP FUNCTION IF EXISTS commissions_ledger_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)  # no placeholders: RAISE uses % itself


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("commissions", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
