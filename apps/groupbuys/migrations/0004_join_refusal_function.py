"""The function the one-statement join (PostgreSQL) raises its refusals with.

A join's writes are one statement that runs in its own transaction (autocommit): the seat, the
usage row, the order and the member. When the seat was taken but a later part yielded no row (the
per-user limit, an order number already taken), the statement must fail as a whole rather than
commit the seat alone; it calls this function, whose error (SQLSTATE P0001, the reason as the
message) rolls the statement back and tells the service why. Nothing on SQLite (its join goes
statement by statement in a transaction).
"""

from django.db import migrations

FUNCTION = "groupbuys_refuse_join"

CREATE = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}(reason text) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = reason;
END
$$
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}(text)")


class Migration(migrations.Migration):
    dependencies = [("groupbuys", "0003_group_stock_held")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
