"""Budget lines, transactions and the budget figures derived from them."""
