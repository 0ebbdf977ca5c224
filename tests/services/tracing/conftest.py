from tests.services.ledger.support import api, people

__all__ = ["api", "people"]
