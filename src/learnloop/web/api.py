"""The JSON API: every feature's router under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

from learnloop.accounts.api import router as accounts_router
from learnloop.exercises.api import router as exercises_router
from learnloop.feedback.api import router as feedback_router
from learnloop.progress.api import router as progress_router
from learnloop.review.api import router as review_router
from learnloop.teaching.api import router as teaching_router
from learnloop.tutor.api import router as tutor_router

API_PREFIX = "/api/v1"

router = APIRouter(prefix=API_PREFIX)
router.include_router(accounts_router)
router.include_router(exercises_router)
router.include_router(progress_router)
router.include_router(review_router)
router.include_router(feedback_router)
router.include_router(tutor_router)
router.include_router(teaching_router)
