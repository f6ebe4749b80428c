"""Writes of the commission engine, one module per flow (rules, accrual, settlement, withdrawals)."""
