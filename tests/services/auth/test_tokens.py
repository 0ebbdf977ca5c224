"""Token issue: a one-of-a-kind label keeps one live token (``amlscreen up``'s admin)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.auth.enums import Role
from services.auth.service import authenticate, replace_labelled_token

LABEL = "bootstrap admin (amlscreen up)"


def test_each_start_revokes_the_previous_bootstrap_token(session: Session) -> None:
    first = replace_labelled_token(session, role=Role.ADMIN, label=LABEL)
    second = replace_labelled_token(session, role=Role.ADMIN, label=LABEL)
    assert first != second
    assert authenticate(session, first) is None, "the previous start's token is revoked"
    assert authenticate(session, second) is not None


def test_a_configured_token_is_kept_across_starts(session: Session) -> None:
    configured = "aml_configured-admin-token-0123456789"
    minted = replace_labelled_token(session, role=Role.ADMIN, label=LABEL)
    for _start in range(2):
        assert (
            replace_labelled_token(session, role=Role.ADMIN, label=LABEL, token=configured)
            == configured
        )
    assert authenticate(session, configured) is not None
    assert authenticate(session, minted) is None
