from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from api.audio import service
from api.audio.links import audio_base
from api.audio.models import AudioClip
from api.audio.schemas import ClipList, ClipOut, Coverage, CoverageRow, SpeechIn, SpeechOut
from api.audio.speech import SpeechEngine
from api.core.types import IdInPath
from api.core.usage import count_use
from api.deps import CryptoDep, DatabaseDep, ReadSession, SettingsDep, require_roles
from api.security import limits, quotas
from api.security.origin import ResidentOrigin
from api.staff.models import StaffUser
from common.vocabulary import LANGUAGES

router = APIRouter(tags=["audio"])

EditorUser = Annotated[StaffUser, Depends(require_roles("admin", "editor"))]
MEDIA_TYPES = {"mp3": "audio/mpeg", "ogg": "audio/ogg"}


def speech_engine(request: Request) -> SpeechEngine:
    engine: SpeechEngine = request.app.state.speech
    return engine


def clip_out(clip: AudioClip, base: str, stale: bool) -> ClipOut:
    return ClipOut(id=clip.id, key=clip.key, language=clip.language, mp3_url=f"{base}/{clip.mp3_name}",
                   ogg_url=f"{base}/{clip.ogg_name}", duration_s=clip.duration_ms / 1000, placeholder=clip.placeholder,
                   stale=stale, uploaded_by=clip.uploaded_by, created_at=clip.created_at)


@router.post("/audio/clips", response_model=ClipOut, status_code=status.HTTP_201_CREATED)
async def upload_clip(
    request: Request, editor: EditorUser, database: DatabaseDep, settings: SettingsDep,
    key: Annotated[str, Form(pattern=r"^[a-z][a-z0-9_]{1,63}$")],
    language: Annotated[str, Form(max_length=8)],
    file: Annotated[UploadFile, File()],
) -> ClipOut:
    data = await file.read(settings.audio_max_bytes + 1)

    def store() -> ClipOut:
        with database.write() as db:
            clip = service.store_upload(db=db, settings=settings, actor=editor, key=key, language=language, data=data)
            return clip_out(clip, audio_base(request, settings.public_base_url), stale=False)

    # ffmpeg takes seconds: off the event loop.
    return await run_in_threadpool(store)


@router.get("/audio/clips", response_model=ClipList)
def list_clips(request: Request, _editor: EditorUser, db: ReadSession, settings: SettingsDep) -> ClipList:
    hashes = service.current_hashes(db)
    base = audio_base(request, settings.public_base_url)
    return ClipList(items=[clip_out(c, base, stale=hashes.get(c.key) != c.source_hash)
                           for c in service.active_clips(db)])


@router.delete("/audio/clips/{clip_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_clip(clip_id: IdInPath, editor: EditorUser, database: DatabaseDep) -> None:
    with database.write() as db:
        service.remove_clip(db=db, actor=editor, clip_id=clip_id)


@router.get("/audio/coverage", response_model=Coverage)
def audio_coverage(_editor: EditorUser, db: ReadSession) -> Coverage:
    return Coverage(languages=list(LANGUAGES), rows=[
        CoverageRow(key=key, kind=kind, text=text, cells=cells) for key, kind, text, cells in service.coverage(db)])


@router.get("/audio/for")
def audio_for(request: Request, db: ReadSession, settings: SettingsDep,
              key: Annotated[str, Query(max_length=64)], lang: Annotated[str, Query(max_length=8)] = "vi",
              ) -> dict[str, object]:
    """The recording residents should hear for a message or answer: their language, else Vietnamese."""
    found = service.clip_for(db, key, lang)
    if found is None:
        raise service.ClipNotFound()
    base = audio_base(request, settings.public_base_url)
    return {"url": f"{base}/{found.clip.mp3_name}", "ogg_url": f"{base}/{found.clip.ogg_name}",
            "language": found.language, "placeholder": found.clip.placeholder}


@router.get("/audio/files/{name}")
def audio_file(name: str, request: Request, settings: SettingsDep, database: DatabaseDep) -> FileResponse:
    path = service.file_path(settings, name)
    # A play starts with the first bytes; a player's later range requests are the same play.
    if request.headers.get("range", "bytes=0-").startswith("bytes=0-"):
        with database.write() as db:
            key, language = service.speaker_of_file(db, name)
            count_use(db, kind="audio_play", key=language)
            if key is not None:
                # Which messages are listened to most: volunteers are asked for those first.
                count_use(db, kind="clip_play", key=key)
    # Names are content hashes: a file never changes, so clients may keep it.
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix[1:]],
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})


@router.post("/audio/speech", response_model=SpeechOut)
async def synthesise(request: Request, body: SpeechIn, origin: ResidentOrigin, database: DatabaseDep,
                     crypto: CryptoDep, settings: SettingsDep,
                     engine: Annotated[SpeechEngine, Depends(speech_engine)]) -> SpeechOut:
    """Vietnamese speech for a bot message (our action server only; counted per chat, files purged
    when not played for `speech_cache_days`)."""
    await run_in_threadpool(limits.spend, database, quotas.write_quotas(settings, crypto, origin, "speech", scale=5))
    speech = await run_in_threadpool(engine.speak, body.text)
    base = audio_base(request, settings.public_base_url)
    return SpeechOut(mp3_url=f"{base}/{speech.mp3_name}", ogg_url=f"{base}/{speech.ogg_name}", engine=speech.engine)
