"""Equity indicators per area: rates, time to close, due dates, patterns and equity."""
