"""Beneficiaries: targets and reach per group, initiative and unit."""
