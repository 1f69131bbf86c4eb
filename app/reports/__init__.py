"""Reports: the budget summary (budget/), the milestone timeline (timeline/) and
beneficiary reach (reach/)."""
