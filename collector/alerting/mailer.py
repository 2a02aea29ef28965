"""Sending queued e-mails over SMTP (STARTTLS or SSL, then login), one connection per delivery round."""
from __future__ import annotations

import smtplib
import ssl
from email.parser import BytesHeaderParser
from email.utils import parseaddr


class MailError(Exception):
    """Delivery failed; ``connection`` is True when the server itself is unreachable (no use trying the
    next message now)."""

    def __init__(self, text: str, connection: bool):
        super().__init__(text)
        self.connection = connection


class Mailer:
    def __init__(self, smtp_cfg):
        self.cfg = smtp_cfg
        self._conn: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cfg.ca) if self.cfg.ca else None)

    def _connect(self) -> smtplib.SMTP:
        c = self.cfg
        try:
            if c.security == "ssl":
                conn = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout_s, context=self._context())
            else:
                conn = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
                if c.security == "starttls":
                    conn.starttls(context=self._context())
            if c.username:
                conn.login(c.username, c.password.resolve() if c.password else "")
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(f"SMTP {c.host}:{c.port} refused the login of {c.username!r}: {exc.smtp_code} "
                            "(check notify.smtp.username and password)", True) from None
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            raise MailError(f"cannot reach SMTP server {c.host}:{c.port}: {exc}", True) from None
        return conn

    def send(self, to: str, message: bytes) -> None:
        if self._conn is None:
            self._conn = self._connect()
        # The queued bytes go out as they are (CRLF lines, attachments already encoded): no re-rendering.
        sender = parseaddr(BytesHeaderParser().parsebytes(message)["From"] or "")[1]
        try:
            self._conn.sendmail(sender, [to], message)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self.close()
            raise MailError(f"SMTP connection to {self.cfg.host}:{self.cfg.port} lost: {exc}", True) from None
        except smtplib.SMTPException as exc:
            raise MailError(f"SMTP server refused the message to {to}: {exc}", False) from None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except Exception:
                pass
            self._conn = None

