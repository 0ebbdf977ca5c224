"""Imports every ORM module so that ``Base.metadata`` knows all tables, and hands out the
session factory of every process (API, worker, CLI, Alembic, tests).

Sessions are made here, not in ``services.db``, because a flush orders its statements by the
foreign keys of every table involved: an alert refers to its case (``alerts.case_id``), so a
process that imported no case code (the worker) would fail its first flush of an alert with
``NoReferencedTableError``. Importing the registry is what makes every table known.
"""

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

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
    "make_sessionmaker",
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


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Returns the session factory used by API requests, the worker and the CLI."""
    return sessionmaker(engine, expire_on_commit=False)
