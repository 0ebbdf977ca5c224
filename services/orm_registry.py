"""Imports every ORM module so that ``Base.metadata`` knows all tables (Alembic, tests)."""

from services.alerts import orm as alerts_orm
from services.assets import orm as assets_orm
from services.audit import orm as audit_orm
from services.auth import orm as auth_orm
from services.cases import orm as cases_orm
from services.console import orm as console_orm
from services.db import Base
from services.ledger import orm as ledger_orm
from services.reports import orm as reports_orm
from services.watchlists import orm as watchlists_orm

__all__ = [
    "Base",
    "alerts_orm",
    "assets_orm",
    "audit_orm",
    "auth_orm",
    "cases_orm",
    "console_orm",
    "ledger_orm",
    "reports_orm",
    "watchlists_orm",
]
