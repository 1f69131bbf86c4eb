"""Import of the ledger's own format: a whole programme from one YAML or JSON file.

document.py is the format (pydantic models, and the JSON Schema made from them);
reader.py reads a file into a document within limits; plan.py compares it with the
ledger; apply.py writes the difference in one transaction; report.py says what was
(or would be) created, changed and refused, row by row.
"""
