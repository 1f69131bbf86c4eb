"""Milestones over time: slippage, overdue milestones, initiatives on or off track."""
