"""Transfer tables."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base
from core.numbering import TRANSFER


class TransferKind(StrEnum):
    INTER_WAREHOUSE = "inter_warehouse"
    INTERCOMPANY = "intercompany"


TRANSIT_DAYS = {TransferKind.INTER_WAREHOUSE: 2, TransferKind.INTERCOMPANY: 7}


class TransferStatus(StrEnum):
    OPEN = "open"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class Transfer(Base):
    __tablename__ = "transfers"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12), index=True)
    from_warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), index=True)
    to_warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), index=True)
    from_entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"))
    to_entity_id: Mapped[int] = mapped_column(ForeignKey("legal_entities.id"))
    from_currency: Mapped[str] = mapped_column(String(3))
    to_currency: Mapped[str] = mapped_column(String(3))
    exchange_rate: Mapped[Decimal]
    expected_date: Mapped[date]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]

    lines: Mapped[list["TransferLine"]] = relationship(
        back_populates="transfer",
        order_by="TransferLine.id",
        cascade="all, delete-orphan",
    )

    __table_args__ = (CheckConstraint("from_warehouse_id <> to_warehouse_id", name="ck_transfers_distinct"),)

    @property
    def number(self) -> str:
        return TRANSFER.format(self.id)


class TransferLine(Base):
    """`unit_price` is the transfer price in the sender's currency (cost for inter-warehouse)."""

    __tablename__ = "transfer_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal]

    transfer: Mapped[Transfer] = relationship(back_populates="lines")

    __table_args__ = (CheckConstraint("quantity > 0", name="ck_transfer_lines_qty"),)
