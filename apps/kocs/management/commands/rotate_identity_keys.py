from django.core.management.base import BaseCommand
from django.db import transaction

from apps.core.crypto import rotate
from apps.core.progress import Progress


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored ID number with the first key of IDENTITY_ENCRYPTION_KEYS (step 2 of a "
        "key rotation: add the new key first, run this, then drop the old key). Safe to run twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size=500, **options):
        from apps.commissions.models import TaxRecord
        from apps.kocs.models import Koc

        total = 0
        for model in (Koc, TaxRecord):
            table = model._meta.db_table
            # Raw values: the column's tokens, never decrypted into Python objects on the way.
            rows = list(model.objects.exclude(id_number="").values_list("pk", flat=True).order_by("pk"))
            with Progress(len(rows), label=table, stream=self.stderr) as bar:
                for start in range(0, len(rows), batch_size):
                    ids = rows[start : start + batch_size]
                    total += self._rotate(model, table, ids)
                    bar.advance(len(ids))
        self.stdout.write(f"re-encrypted {total} ID numbers with the first key")

    @transaction.atomic
    def _rotate(self, model, table, ids) -> int:
        from django.db import connection

        quoted = connection.ops.quote_name(table)
        placeholders = ", ".join(["%s"] * len(ids))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, id_number FROM {quoted} WHERE id IN ({placeholders})",  # noqa: S608
                ids,
            )
            tokens = cursor.fetchall()
            for pk, token in tokens:
                # A raw UPDATE of the one column: tax records are append-only, and their trigger lets
                # through only an UPDATE that changes nothing but the (re-encrypted) ID number.
                cursor.execute(f"UPDATE {quoted} SET id_number = %s WHERE id = %s", [rotate(token), pk])  # noqa: S608
        return len(tokens)
