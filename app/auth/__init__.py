"""Who is calling, and what their role lets them do."""
