"""Budget lines and transactions: the rule of the current budget."""
