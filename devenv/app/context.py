"""What every command receives: where to work, how to print, and the engine door."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..engine import Engine
from .ui import UI


@dataclass
class AppContext:
    project: Path | None
    ui: UI
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    engine_override: Engine | None = None  # tests pass a fake here
    _engine: Engine | None = field(default=None, repr=False)

    def engine(self) -> Engine:
        if self.engine_override is not None:
            return self.engine_override
        if self._engine is None:
            from ..engine.docker import DockerEngine

            self._engine = DockerEngine()
        return self._engine

    def workspace(self, arguments: Mapping[str, Any] | None = None):  # -> Workspace
        from .workspace import open_workspace

        ws = open_workspace(self.project, self.engine(), self.environ, arguments)
        self.ui.secrets = ws.detection.secrets
        return ws
