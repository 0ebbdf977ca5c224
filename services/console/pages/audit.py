from __future__ import annotations

from fastapi import APIRouter

from services.console.web import ConsoleRoute

router = APIRouter(route_class=ConsoleRoute)
