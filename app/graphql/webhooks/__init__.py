"""Webhook endpoints for admins: the same operations as `pledge-ledger webhooks`."""

from app.graphql.webhooks.schema import WebhookMutations, WebhookQueries

__all__ = ["WebhookMutations", "WebhookQueries"]
