"""Exchange rates: the dated rates every conversion reads (the rule itself is in money/)."""
