"""The settings sit below every domain (tests/test_layers.py) and still refuse unsafe
values while they are read, with what they need from above repeated or moved down."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.auth.roles import Role
from app.config import ROLE_NAMES, Settings


def test_the_settings_know_the_roles_by_their_names() -> None:
    # config cannot import Role; its list of names must not drift from the enum
    assert list(ROLE_NAMES) == [role.value for role in Role]


def test_settings_refuse_a_role_claim_left_empty() -> None:
    with pytest.raises(ValidationError, match="JWT_ROLE_CLAIM and JWT_INITIATIVES_CLAIM"):
        Settings(jwt_role_claim="")
