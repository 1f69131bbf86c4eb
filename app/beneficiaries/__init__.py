"""Beneficiaries: the groups an initiative serves, their targets and reached figures."""
