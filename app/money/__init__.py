"""Currencies, exchange rates and conversion that shows its rate."""
