"""Milestones: what an initiative plans to reach, and when it did."""
