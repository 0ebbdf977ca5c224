from __future__ import annotations

import io
from typing import Any

from refdata.wire import ReportV1
from services.reports.formats import FileFormat, IntakeContext, convert
from services.reports.formats.common import FormatError
from tests.fixtures.alerts import api
from tests.services.filings.conftest import fincen_schemas, profile, profiled_api

__all__ = ["api", "fincen_schemas", "profile", "profiled_api", "read"]


def read(
    file_format: FileFormat, content: bytes, **context: Any
) -> tuple[list[ReportV1], list[FormatError]]:
    """Converts a whole file; returns its reports and its errors."""
    reports: list[ReportV1] = []
    errors = convert(file_format, io.BytesIO(content), IntakeContext(**context), reports.append)
    return reports, errors
