"""Evidence: source documents and the citations that tie figures to their words."""
