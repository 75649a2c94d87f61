"""Contact forms over HTTP (SPEC §11 "Web"), served by aiohttp in the daemon's own event loop.

``GET /form/<name>`` renders a form (server-side Jinja2, no JavaScript, labels and errors next
to their fields); ``POST /form/<name>`` checks, in this order, the client IP against the
blocklist (403), the ``Origin`` (403), the size while streaming the multipart body (413, nothing
stored), the CSRF token bound to a ``SameSite=Strict`` cookie (403), the honeypot (400), the
rate limit counted in the database (429) and the fields (400, the form again with the errors),
then sends the submission through the same door as mail (``Acceptor``): stored durably, parsed,
routed and answered exactly as a mail would be, with ``channel: web``. Only then does the
confirmation page show ``MG#<id>``; the auto-response mails the same number.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import web

from mailgate.cases.context import Context
from mailgate.config import FieldConfig, WebConfig, WebFormConfig
from mailgate.domain.blocklist import match
from mailgate.domain.effects import AnswerSender
from mailgate.intake.inbox import Acceptor, RawMessage
from mailgate.services import tickets, units
from mailgate.signing import LinkError, sign, verify
from mailgate.storage import blocks, customers, inbound
from mailgate.storage import web as web_rows
from mailgate.storage.db import DB_ERRORS
from mailgate.web import submission
from mailgate.web.account import Account
from mailgate.web.submission import Submission

log = logging.getLogger(__name__)

CSRF_COOKIE: Final = "mg_csrf"
CSRF_TTL: Final = timedelta(hours=2)
CONFIRM_TTL: Final = timedelta(days=2)      # a customers_only submission's confirmation link
HONEYPOT: Final = "website"
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",     # no-referrer would make browsers send "Origin: null"
    "X-Frame-Options": "DENY",
}


class WebPages:
    """The aiohttp application and its site; ``start`` and ``stop`` run with ``mailgate run``."""

    def __init__(self, ctx: Context, acceptor: Acceptor) -> None:
        assert ctx.config.web is not None
        self.ctx = ctx
        self.cfg: WebConfig = ctx.config.web
        self.acceptor = acceptor
        self.runner: web.AppRunner | None = None
        self.site: web.TCPSite | None = None
        self.account = Account(self)

    def application(self) -> web.Application:
        app = web.Application(middlewares=[_security_headers, self._errors],
                              client_max_size=self.cfg.max_upload + submission.TEXT_LIMIT)
        app.router.add_get("/form/{name}", self.show_form)
        app.router.add_post("/form/{name}", self.submit)
        app.router.add_get("/confirm/{token}", self.confirm)
        self.account.routes(app)
        return app

    async def start(self) -> None:
        self.runner = web.AppRunner(self.application(), access_log=None, handle_signals=False,
                                    shutdown_timeout=5)
        await self.runner.setup()
        self.site = web.TCPSite(self.runner, self.cfg.host, self.cfg.port)
        await self.site.start()
        log.info("web_started listen=%s", self.cfg.listen)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @property
    def port(self) -> int:
        assert self.runner is not None
        address = self.runner.addresses[0]
        return int(address[1])

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Our own failure is a plain page with 500 (503 while the database is away), never a trace."""
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except web.HTTPException:
            raise
        except DB_ERRORS:
            log.exception("web_failed path=%s", request.path)
            return self._error(503, "Try again soon", "We cannot take submissions at the moment. Nothing "
                                                      "was stored; please try again in a few minutes.")
        except Exception:
            log.exception("web_failed path=%s", request.path)
            return self._error(500, "Something went wrong", "Nothing was stored; please try again.")

    # --- pages ---------------------------------------------------------------------------

    def _page(self, template: str, status: int = 200, **context: Any) -> web.Response:
        page = self.ctx.renderer.html_env.get_template(f"web/{template}.html.j2").render(
            gateway=self.ctx.config.gateway.name, **context)
        return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")

    def _error(self, status: int, title: str, message: str) -> web.Response:
        return self._page("error", status, title=title, message=message)

    def _with_csrf(self, request: web.Request, key: str, template: str, status: int,
                   **context: Any) -> web.Response:
        """A page with a form: a CSRF token for ``key``, bound to a SameSite=Strict cookie."""
        nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(16)
        token = sign(self.ctx.secret, "csrf", {"f": key, "n": nonce}, self.ctx.clock.now() + CSRF_TTL)
        response = self._page(template, status, csrf_token=token, **context)
        response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="Strict", path="/",
                            secure=self.cfg.public_url.startswith("https:"))
        return response

    def _form(self, request: web.Request, form: WebFormConfig, status: int = 200,
              values: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> web.Response:
        return self._with_csrf(
            request, form.name, "form", status, form=form,
            title=form.title or f"Contact {self.ctx.config.gateway.name}", fields=self._fields(form),
            values=values or {}, errors=errors or {}, honeypot=HONEYPOT,
            max_upload_mb=f"{self.cfg.max_upload / 1e6:g}")

    def _fields(self, form: WebFormConfig) -> list[FieldConfig]:
        known = {f.name: f for f in self.ctx.config.fields}
        return [known[name] for name in form.fields if name in known]

    def _known(self, name: str) -> WebFormConfig | web.Response:
        form = self.cfg.form_named(name)
        if form is None:
            return self._error(404, "No such form", "There is no form at this address.")
        return form

    async def show_form(self, request: web.Request) -> web.Response:
        form = self._known(request.match_info["name"])
        return form if isinstance(form, web.Response) else self._form(request, form)

    async def _blocked(self, address: str, ip: str) -> bool:
        """Whether the address or client IP is on the blocklist (a hit is counted)."""
        hit = match(await self.ctx.db.run(blocks.entries), address, ip)
        if hit is None:
            return False
        value = hit.value
        await self.ctx.db.run(lambda s: blocks.hit(s, value))
        return True

    async def submit(self, request: web.Request) -> web.Response:
        form = self._known(request.match_info["name"])
        if isinstance(form, web.Response):
            return form
        ip = request.remote or ""
        if ip and await self._blocked("", ip):
            return self._error(403, "Not accepted", "Submissions from your network are not accepted.")
        if not self._same_origin(request):
            return self._error(403, "Not accepted", "This form was sent from another site.")
        limit = self.cfg.max_upload + submission.TEXT_LIMIT
        if request.content_length is not None and request.content_length > limit:
            return self._too_large()
        try:
            sent = await submission.read(request, self.cfg.max_upload)
        except submission.TooLarge:
            return self._too_large()
        except ValueError:
            return self._error(400, "Not understood", "The form could not be read. Please try again.")
        return await self._checked(request, form, sent, ip)

    async def _checked(self, request: web.Request, form: WebFormConfig, sent: Submission,
                       ip: str) -> web.Response:
        if not self._csrf_ok(request, form.name, sent.values.get("csrf_token", "")):
            return self._error(403, "Expired form", "This form has expired or was not sent from our page. "
                                                    "Please open the form again and resend it.")
        if sent.values.get(HONEYPOT, "").strip():
            return self._error(400, "Not accepted", "Your submission could not be accepted.")
        count, window = self.cfg.limit
        now = self.ctx.clock.now()
        if await self.ctx.db.run(lambda s: web_rows.hits(s, form.name, ip, now - window)) >= count:
            return self._error(429, "Too many submissions",
                               f"This form takes {count} submissions per {_unit(window)} from one address. "
                               "Please try again later.")
        errors = submission.problems(self._fields(form), sent.values)
        if errors:
            return self._form(request, form, 400, sent.values, errors)
        email = sent.values["email"].strip().lower()
        if await self._blocked(email, ""):
            return self._error(403, "Not accepted", "Submissions from this address are not accepted.")
        if form.customers_only and not await self._is_signed_in(request, email):
            return await self._hold(form, sent, email, ip)
        return await self._open(form, sent, email, ip)

    async def _is_signed_in(self, request: web.Request, email: str) -> bool:
        """Whether the session proves ``email``: the signed-in, active customer's own address."""
        who = self.account.signed_in(request)
        if who is None:
            return False
        found = await self.ctx.db.run(lambda s: customers.by_id(s, who))
        return found is not None and found.state == "active" and found.email == email

    async def _hold(self, form: WebFormConfig, sent: Submission, email: str, ip: str) -> web.Response:
        """A customers_only submission: kept until its confirmation link is followed, mailed to a
        registered (active) customer; anyone else gets a mail saying how to register. The page
        is the same either way, so it tells nobody who is registered."""
        box = self.ctx.config.mailbox(form.mailbox)
        now = self.ctx.clock.now()
        customer = await self.ctx.db.run(lambda s: customers.by_email(s, email))
        subject = " ".join(sent.values.get("subject", "").split())[:200]
        if customer is not None and customer.state == "active":
            nonce = secrets.token_urlsafe(16)
            raw = submission.as_mail(self.ctx, box.address, sent, email, self._fields(form))
            fields = {f.name: sent.values.get(f.name, "").strip() for f in self._fields(form)}
            expires = now + CONFIRM_TTL
            token = sign(self.ctx.secret, "confirm", {"n": nonce, "f": form.name}, expires)
            link = f"{self.cfg.public_url.rstrip('/')}/confirm/{token}"
            await self.ctx.db.run(lambda s: web_rows.add_pending(s, nonce, form.name, email, raw, fields,
                                                                 now))
            mail = AnswerSender("web_confirm", email, box.name, context={
                "subject": subject, "link": link, "expires": f"{expires:%Y-%m-%d %H:%M} UTC"})
        else:
            mail = AnswerSender("web_register", email, box.name, context={"subject": subject})
        await units.run(self.ctx, lambda session, at: [mail])
        await self.ctx.db.run(lambda s: web_rows.add_hit(s, form.name, ip, now))
        return self._page("check_mail", email=email)

    async def confirm(self, request: web.Request) -> web.Response:
        """``/confirm/<token>``: open the held submission as a case, once, for an active customer."""
        now = self.ctx.clock.now()
        try:
            payload = verify(self.ctx.secret, "confirm", request.match_info["token"], now)
        except LinkError as exc:
            return self._error(400, "Link not valid", f"{str(exc).capitalize()}. Please send the form again.")
        nonce = str(payload.get("n", ""))
        pending = await self.ctx.db.run(lambda s: web_rows.pending(s, nonce))
        if pending is None or pending.used_at is not None:
            return self._error(400, "Link used already", "This confirmation link was used already; "
                                                         "each works once. Your message was passed on then.")
        customer = await self.ctx.db.run(lambda s: customers.by_email(s, pending.email))
        if customer is None or customer.state != "active":
            return self._error(403, "Not registered", "This address is not an active customer account.")
        form = self.cfg.form_named(pending.form)
        box = self.ctx.config.mailbox(form.mailbox if form else self.ctx.config.mailboxes[0].name)
        receipt = await self.acceptor.accept(RawMessage(data=pending.raw, source="web", mailbox=box.name,
                                                        rcpt_to=(box.address,), peer=request.remote or ""))
        row = await self.ctx.db.run(lambda s: inbound.get(s, receipt.inbound_id))
        case_id = row.ticket_id if row is not None else None
        if not await self.ctx.db.run(lambda s: web_rows.spend_pending(s, nonce, case_id, now)):
            return self._error(400, "Link used already", "This confirmation link was used already.")
        await self._set_fields(case_id, dict(pending.fields or {}))
        return self._page("done", tag=self.ctx.tag(case_id) if case_id else "", email=pending.email)

    async def _set_fields(self, case_id: int | None, values: dict[str, str]) -> None:
        if case_id is not None and any(values.values()):
            await tickets.edit_ticket(self.ctx, case_id, tickets.TicketEdit(
                fields=tuple(f"{k}={v}" for k, v in values.items() if v)))

    def _too_large(self) -> web.Response:
        return self._error(413, "Too large", f"The attachments may be {self.cfg.max_upload / 1e6:g} MB "
                                             "together at most. Nothing was stored.")

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True                        # old browsers; the CSRF token still has to match
        allowed = {_origin(self.cfg.public_url), f"{request.scheme}://{request.host}"}
        return origin.rstrip("/") in allowed

    def _csrf_ok(self, request: web.Request, key: str, token: str) -> bool:
        nonce = request.cookies.get(CSRF_COOKIE, "")
        try:
            payload = verify(self.ctx.secret, "csrf", token, self.ctx.clock.now())
        except LinkError:
            return False
        return bool(nonce) and payload.get("n") == nonce and payload.get("f") == key

    async def _open(self, form: WebFormConfig, sent: Submission, email: str, ip: str) -> web.Response:
        box = self.ctx.config.mailbox(form.mailbox)
        raw = submission.as_mail(self.ctx, box.address, sent, email, self._fields(form))
        receipt = await self.acceptor.accept(RawMessage(data=raw, source="web", rcpt_to=(box.address,),
                                                        mailbox=box.name, peer=ip))
        now = self.ctx.clock.now()
        await self.ctx.db.run(lambda s: web_rows.add_hit(s, form.name, ip, now))
        row = await self.ctx.db.run(lambda s: inbound.get(s, receipt.inbound_id))
        case_id = row.ticket_id if row is not None else None
        await self._set_fields(case_id, {f.name: sent.values.get(f.name, "").strip()
                                         for f in self._fields(form)})
        log.info("web_submission form=%s inbound=%s case=%s", form.name, receipt.inbound_id, case_id)
        return self._page("done", tag=self.ctx.tag(case_id) if case_id else "", email=email)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _unit(window: timedelta) -> str:
    return {1: "second", 60: "minute", 3600: "hour", 86400: "day"}.get(int(window.total_seconds()), "period")


@web.middleware
async def _security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers.update(SECURITY_HEADERS)
    return response
