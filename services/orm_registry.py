"""Imports every ORM module so that ``Base.metadata`` knows all tables (Alembic, tests)."""

from services.auth import orm as auth_orm
from services.db import Base
from services.reports import orm as reports_orm

__all__ = ["Base", "auth_orm", "reports_orm"]
