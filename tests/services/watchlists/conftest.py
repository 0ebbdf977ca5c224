from tests.fixtures.alerts import api

__all__ = ["api"]
