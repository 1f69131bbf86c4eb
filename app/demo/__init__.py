"""The built-in demo: the 100 bn RMB common-prosperity pledge, with its sources."""
