"""Initiatives: what the programme funds, with their participants."""
