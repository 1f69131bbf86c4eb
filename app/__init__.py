"""Pledge Ledger: a GraphQL reporting service for large social-impact pledges."""
