"""The monthly TaxRecord of the 2018 per-payment method goes; 0009 creates per-payout records.

The old rows were monthly totals under the old method (income − 800 / × 80%, then 20–40%): they
cannot be split into payouts, and the cumulative method does not use them.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("commissions", "0007_withdrawal_cancel_and_late_success")]

    operations = [migrations.DeleteModel(name="TaxRecord")]
