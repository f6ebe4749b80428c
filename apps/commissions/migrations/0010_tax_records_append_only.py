"""Tax records are append-only in the database too, like the ledger (0002): on PostgreSQL a trigger
refuses UPDATE and DELETE (except re-encrypting the ID number with a rotated key); corrections are
new records.

Python refuses them as well (TaxRecord.save/delete), but a raw UPDATE, a queryset .update() or a
psql session would not go through Python. TRUNCATE is left alone: it is what test databases and
`flush` use, and it needs the table owner's rights anyway. SQLite gets no trigger (development only).
"""

from django.db import migrations

TABLE = "commissions_taxrecord"

CREATE = f"""
CREATE OR REPLACE FUNCTION commissions_taxrecord_append_only() RETURNS trigger AS $$
BEGIN
    -- Re-encrypting the ID number under a new key (manage.py rotate_identity_keys) changes no figure
    -- of the record: the one UPDATE allowed is one that leaves every other column as it was.
    IF TG_OP = 'UPDATE' AND (to_jsonb(NEW) - 'id_number') = (to_jsonb(OLD) - 'id_number') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'tax records are append-only: % refused on record %', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS commissions_taxrecord_append_only ON {TABLE};
CREATE TRIGGER commissions_taxrecord_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION commissions_taxrecord_append_only();
"""

DROP = f"""
DROP TRIGGER IF EXISTS commissions_taxrecord_append_only ON {TABLE};
DROP FUNCTION IF EXISTS commissions_taxrecord_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)  # no placeholders: RAISE uses % itself


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("commissions", "0009_tax_records_per_payout_refusals_invoices")]

    operations = [migrations.RunPython(forwards, backwards)]
