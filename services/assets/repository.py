"""Every asset query. Never commits: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from services.assets.orm import Asset, AssetEvent, AssetParticipant


class AssetRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, asset: Asset) -> Asset:
        self.session.add(asset)
        self.session.flush()
        return asset

    def get(self, asset_id: int) -> Asset | None:
        # populate_existing: a write re-reads the row after taking the write lock.
        return self.session.scalar(
            select(Asset).where(Asset.id == asset_id).execution_options(populate_existing=True)
        )

    def page(
        self,
        *,
        status: Sequence[str] | None = None,
        asset_type: str | None = None,
        jurisdiction: str | None = None,
        case_number: str | None = None,
        case_id: str | None = None,
        alert_id: str | None = None,
        deadline_before: datetime | None = None,
        deadline_kind: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> Sequence[Asset]:
        statement = select(Asset).where(Asset.id > after_id).order_by(Asset.id).limit(limit)
        if status:
            statement = statement.where(Asset.status.in_(status))
        if asset_type:
            statement = statement.where(Asset.asset_type == asset_type)
        if jurisdiction:
            statement = statement.where(Asset.jurisdiction == jurisdiction)
        if case_number:
            statement = statement.where(Asset.case_number == case_number)
        # Linked ids are JSON lists of safe strings; their JSON text contains '"<id>"'.
        if case_id:
            statement = statement.where(
                cast(Asset.case_ids, String).contains(f'"{case_id}"', autoescape=True)
            )
        if alert_id:
            statement = statement.where(
                cast(Asset.alert_ids, String).contains(f'"{alert_id}"', autoescape=True)
            )
        if deadline_before is not None:
            statement = statement.where(Asset.next_deadline_at < deadline_before)
        if deadline_kind:
            statement = statement.where(Asset.next_deadline_kind == deadline_kind)
        return self.session.scalars(statement).all()

    def add_event(self, event: AssetEvent) -> AssetEvent:
        self.session.add(event)
        self.session.flush()
        return event

    def events(self, asset_id: int) -> Sequence[AssetEvent]:
        return self.session.scalars(
            select(AssetEvent).where(AssetEvent.asset_id == asset_id).order_by(AssetEvent.id)
        ).all()

    def last_event(self, asset_id: int, to_status: str) -> AssetEvent | None:
        return self.session.scalar(
            select(AssetEvent)
            .where(AssetEvent.asset_id == asset_id, AssetEvent.to_status == to_status)
            .order_by(AssetEvent.id.desc())
            .limit(1)
        )

    def add_participant(self, participant: AssetParticipant) -> AssetParticipant:
        self.session.add(participant)
        self.session.flush()
        return participant

    def participants(self, asset_id: int) -> Sequence[AssetParticipant]:
        return self.session.scalars(
            select(AssetParticipant)
            .where(AssetParticipant.asset_id == asset_id)
            .order_by(AssetParticipant.id)
            .execution_options(populate_existing=True)
        ).all()

    def participants_of_assets(self, asset_ids: Sequence[int]) -> Sequence[AssetParticipant]:
        if not asset_ids:
            return []
        return self.session.scalars(
            select(AssetParticipant).where(AssetParticipant.asset_id.in_(asset_ids))
        ).all()

    def assets_by_ids(self, asset_ids: Sequence[int]) -> Sequence[Asset]:
        if not asset_ids:
            return []
        return self.session.scalars(select(Asset).where(Asset.id.in_(asset_ids))).all()
