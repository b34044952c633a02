"""Building the tutor's indexes at start-up, before the server reports ready.

Each course's passages are embedded once per content hash and kept on disk
(`settings.tutor_index_dir`), so a restart loads them in milliseconds; a first start embeds
the course (about half a minute for the bundled one on two cores). `/readyz` answers 503
until every course is in, so no learner meets a half-built index: the first question after a
start gets the same answer as the hundredth.
"""

from __future__ import annotations

import logging
import threading
import time

from learnloop.content.loader import CourseLibrary
from learnloop.settings import Settings
from learnloop.tutor.retrieval import prepare

log = logging.getLogger(__name__)


def start(library: CourseLibrary, settings: Settings) -> threading.Event:
    """Prepare every course's index in a background thread; the event is set when done."""
    done = threading.Event()

    def run() -> None:
        started = time.monotonic()
        try:
            for course in library.courses():
                prepare(course, settings.tutor_index_dir)
        except Exception:  # the tutor answers with BM25 alone rather than keep the app unready
            log.exception("preparing the tutor's index failed")
        finally:
            log.info("tutor indexes ready", extra={"seconds": round(time.monotonic() - started, 2)})
            done.set()

    threading.Thread(target=run, name="tutor-index", daemon=True).start()
    return done
