"""Account e-mail over SMTP (LEARNLOOP_SMTP_*; the password may come from a *_FILE)."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from learnloop.settings import Settings

logger = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 10


def reset_link(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/reset/{token}"


def send_reset_mail(settings: Settings, *, to: str, name: str, link: str) -> bool:
    """Sends the reset link; False when no SMTP server is configured or it refused the mail
    (logged: the person is told the same thing either way, so nobody learns who has an
    account)."""
    if not settings.smtp_host:
        logger.warning(
            "password reset: no SMTP server configured; use `learnloop users reset-link`"
        )
        return False
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = "Reset your learnloop password"
    message.set_content(
        f"Hello {name},\n\n"
        "Someone (hopefully you) asked to reset the password of your learnloop account.\n"
        f"Open this link within the hour to choose a new one; it works once:\n\n{link}\n\n"
        "If it was not you, ignore this mail: your password stays as it is.\n"
    )
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        logger.error("password reset mail not sent: %s", type(error).__name__)
        return False
    logger.info("password reset mail sent")
    return True
