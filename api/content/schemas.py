from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

Kind = Literal["faq", "message"]
KEY_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"


class FaqDraft(BaseModel):
    """An FAQ entry as the editor wants it published."""

    category: str = Field(default="chung", min_length=1, max_length=32)
    questions: list[str] = Field(min_length=1, max_length=50)
    answers: dict[str, str]
    effective_from: date | None = None
    expires_on: date | None = None
    needs_review: bool = False

    @model_validator(mode="after")
    def dates_in_order(self) -> FaqDraft:
        if self.effective_from and self.expires_on and self.expires_on <= self.effective_from:
            raise ValueError("Ngày hết hiệu lực phải sau ngày bắt đầu.")
        return self


class MessageDraft(BaseModel):
    """A bot message's text per language; an empty text for a language means "use Vietnamese"."""

    texts: dict[str, str]


class RevisionIn(BaseModel):
    kind: Kind
    key: str = Field(pattern=KEY_PATTERN)
    payload: dict[str, Any]


class RejectIn(BaseModel):
    comment: str = Field(default="", max_length=300)


class RevisionOut(BaseModel):
    id: int
    kind: str
    key: str
    status: str
    payload: dict[str, Any]
    author: str
    reviewer: str | None
    comment: str
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None


class RevisionList(BaseModel):
    items: list[RevisionOut]


class MessageOut(BaseModel):
    key: str
    texts: dict[str, str]
    placeholders: list[str]


class MessageList(BaseModel):
    items: list[MessageOut]


class VariantIn(BaseModel):
    key: str = Field(pattern=KEY_PATTERN)
