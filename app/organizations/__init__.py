"""Organisations: sponsors, funders and partners, and the lists of them."""
