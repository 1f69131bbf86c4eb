"""Backups: the ledger written in its own format (app/imports/document.py), which
`pledge-ledger import` reads back.

repository.py reads every record of the programmes (through the sessions it is
given: on a view, as of a moment or within a partner's scope); export.py makes the
documents of them; service.py opens the view and writes the file (JSON or YAML).
"""
