"""The local content-addressed video store: every paid video lands here before MLflow.

    <home>/store/<provider>/<model>/<request_hash>.mp4    the video (written atomically)
    <home>/store/<provider>/<model>/<request_hash>.json   what the provider said (no secrets)

Keyed by the request hash inside a provider/model namespace: the same request made by the
simulator and by Segmind are different videos. ``home`` is ``$VEOLAB_HOME`` or ``./.veolab``.
A tracking failure therefore never loses a paid video: the next run re-logs it from here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from veolab._fs import atomic_write_bytes, atomic_write_text, veolab_home


class VideoStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else veolab_home() / "store"

    def _dir(self, provider: str, model: str) -> Path:
        return self.root / provider / model

    def video_path(self, provider: str, model: str, request_hash: str) -> Path:
        return self._dir(provider, model) / f"{request_hash}.mp4"

    def has(self, provider: str, model: str, request_hash: str) -> bool:
        return self.video_path(provider, model, request_hash).is_file()

    def put(
        self, provider: str, model: str, request_hash: str, video: bytes, meta: dict[str, Any]
    ) -> Path:
        """Store the metadata, then the video (the video's presence means both are complete)."""
        d = self._dir(provider, model)
        atomic_write_text(
            d / f"{request_hash}.json", json.dumps(meta, indent=2, sort_keys=True, default=str)
        )
        return atomic_write_bytes(d / f"{request_hash}.mp4", video)

    def get(self, provider: str, model: str, request_hash: str) -> tuple[bytes, dict[str, Any]]:
        path = self.video_path(provider, model, request_hash)
        meta_path = path.with_suffix(".json")
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        return path.read_bytes(), meta

    def hashes(self, provider: str, model: str) -> set[str]:
        d = self._dir(provider, model)
        return {p.stem for p in d.glob("*.mp4")} if d.is_dir() else set()
