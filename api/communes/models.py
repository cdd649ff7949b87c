from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.core.db import Base


class Province(Base):
    __tablename__ = "provinces"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(100))


class Commune(Base):
    """A commune, ward or special zone: the lower tier of the two-tier local government."""

    __tablename__ = "communes"

    id: Mapped[int] = mapped_column(primary_key=True)
    province_id: Mapped[int] = mapped_column(ForeignKey("provinces.id"), index=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # xa | phuong | dac_khu
    search_key: Mapped[str] = mapped_column(String(100), index=True)
    compact_key: Mapped[str] = mapped_column(String(100), index=True)

    province: Mapped[Province] = relationship(lazy="joined")


class Site(Base):
    """Where exams happen: a commune health station, a hospital, or a mobile-team stop."""

    __tablename__ = "sites"
    __table_args__ = (
        # Half a position, or one off the globe, would put a site somewhere nobody meant; NaN fails
        # these comparisons too (PostgreSQL sorts it above every number).
        CheckConstraint(
            "(latitude IS NULL AND longitude IS NULL)"
            " OR (latitude IS NOT NULL AND longitude IS NOT NULL"
            " AND latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180)",
            name="coordinates",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # station | hospital | mobile
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(default=True)
    # WGS84 degrees, as phones share a location; both or neither (a site without them is never
    # offered as "nearest").
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]

    commune: Mapped[Commune] = relationship(lazy="joined")
