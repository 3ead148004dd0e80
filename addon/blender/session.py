"""The add-on's whole state while Blender runs, in one object: `SESSION` (not saved in the .blend).

It holds the helper commands (`tasks`), the models list (`catalog`), the backend's health
(`health`) and the video import's status (`imports`). Operators, panel and preferences read and
change it; registration stops it (`SESSION.stop()`). Nothing else in the add-on keeps state in
module globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..backend_client.import_job import VideoImportJob
from .backend_health import HealthCache
from .model_catalog import ModelCatalog
from .tasks import TaskTable


@dataclass
class ImportStatus:
    """The running video import and what the panel says about the last one."""

    job: VideoImportJob | None = None
    message: str = ""
    level: str = "INFO"  # INFO, WARNING or ERROR
    # The last run's motion file, kept with everyone's tracks, so another person imports without detection.
    last_tracks: str = ""
    last_video: str = ""
    last_people: str = ""  # "3 people: 0 (40 frames, main), 1 (28), 2 (5)"
    reuse_tracks: bool = False  # set by Import This Person for the next start

    def tell(self, level: str, message: str) -> None:
        self.level, self.message = level, message


@dataclass
class Session:
    tasks: TaskTable = field(default_factory=TaskTable)
    imports: ImportStatus = field(default_factory=ImportStatus)
    catalog: ModelCatalog = field(init=False)
    health: HealthCache = field(init=False)

    def __post_init__(self) -> None:
        self.catalog = ModelCatalog(self.tasks)
        self.health = HealthCache(self.tasks)

    def stop(self) -> None:
        """Cancel the running import (waiting for its backend to end) and stop every helper command."""
        job = self.imports.job
        if job is not None:
            job.cancel()
            job.wait()
            self.imports.job = None
        self.tasks.stop_all()


SESSION = Session()
