"""Email sent by the operator (``notify`` with ``email``), with the standard library's smtplib.

smtplib is synchronous: a send runs in a thread (``asyncio.to_thread``), one per notification,
which is rare (errors and finally handlers). The server's name is checked by the address guard
and the connection made to a checked address; TLS still verifies the certificate against the
name (smtplib takes the name to verify from the host it connected to, set back below).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from overture.calls.errors import CallError
from overture.calls.guard import AddressGuard


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int = 587
    tls: str = "starttls"  # starttls | tls | none
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


@dataclass(frozen=True)
class Email:
    sender: str
    to: tuple[str, ...]
    subject: str
    text: str


def build_message(mail: Email) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = ", ".join(mail.to)
    message["Subject"] = mail.subject
    message.set_content(mail.text)
    return message


async def send_email(server: SmtpServer, mail: Email, guard: AddressGuard) -> None:
    """Deliver ``mail`` through ``server``; CallError says which server and what it answered."""
    await asyncio.to_thread(_send, server, build_message(mail), guard)


def _send(server: SmtpServer, message: EmailMessage, guard: AddressGuard) -> None:
    where = f"SMTP {server.host}:{server.port}"
    address = guard.resolve(server.host, server.port)[0]
    context = ssl.create_default_context()
    try:
        smtp = (
            smtplib.SMTP_SSL(timeout=server.timeout, context=context)
            if server.tls == "tls"
            else smtplib.SMTP(timeout=server.timeout)
        )
        smtp._host = server.host  # type: ignore[attr-defined]  # the name TLS verifies, though we connect to the checked address
        with smtp:
            smtp.connect(address, server.port)
            smtp._host = server.host  # type: ignore[attr-defined]  # connect() set it to the address
            if server.tls == "starttls":
                smtp.starttls(context=context)
            if server.username:
                smtp.login(server.username, server.password or "")
            refused = smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise CallError(f"{where} answered {exc.smtp_code}: {text}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise CallError(f"{where} refused every recipient: {', '.join(exc.recipients)}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise CallError(f"{where}: {type(exc).__name__}: {exc}") from None
    if refused:
        raise CallError(f"{where} refused {', '.join(refused)}")
