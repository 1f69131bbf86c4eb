"""Import of the ledger's own format: a whole programme from one YAML or JSON file.

document.py is the format (pydantic models, and the JSON Schema made from them);
reader.py reads a file into a document within limits; service.py, initiatives.py,
money.py and evidence.py find each record by its key and write what differs through
its domain's rules; apply.py runs it all in one transaction; report.py says what was
(or would be) created, changed and refused, row by row.
"""
