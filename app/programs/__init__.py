"""Programmes: the pledge itself, its sponsor, amount and deadline."""
