"""Secrets are stored sealed, and a rotation signs with both secrets for its overlap."""

from __future__ import annotations

from datetime import timedelta

from cryptography.fernet import Fernet
from standardwebhooks.webhooks import Webhook

from app.config import Settings
from app.db.types import utcnow
from app.models import WebhookEndpoint
from app.webhooks import service
from app.webhooks.secrets import SecretBox, SecretUnreadable
from app.webhooks.signing import headers, new_secret


def test_a_sealed_secret_does_not_show_it_and_opens_with_the_key_only() -> None:
    secret = new_secret()
    box = SecretBox([Fernet.generate_key()])
    sealed = box.seal(secret)
    assert secret not in sealed and secret.removeprefix("whsec_") not in sealed
    assert box.open(sealed) == secret
    other = SecretBox([Fernet.generate_key()])
    try:
        other.open(sealed)
    except SecretUnreadable as exc:
        assert "WEBHOOK_SECRET_KEY" in str(exc)
    else:
        raise AssertionError("opened with another key")


def test_during_a_rotations_overlap_both_secrets_verify(settings: Settings) -> None:
    old, new = new_secret(), new_secret()
    box = SecretBox.of(settings)
    now = utcnow()
    endpoint = WebhookEndpoint(
        secret=box.seal(new),
        previous_secret=box.seal(old),
        previous_secret_until=now + timedelta(hours=1),
    )
    signing = service.signing_secrets(settings, endpoint, now)
    body = b'{"type":"change.create"}'
    sent = headers(signing, "msg_1_1", int(now.timestamp()), body)
    assert len(sent["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, sent)
    # after the overlap, only the new one signs
    later = service.signing_secrets(settings, endpoint, now + timedelta(hours=2))
    assert later == [new]
