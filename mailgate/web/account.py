"""The customer's own pages (SPEC §11 "Web"): activation from the welcome mail, sign-in and out,
``/account`` (their cases, status and resolution) and ``/account/case/<id>`` (its public
conversation, to its requester only). Passwords are argon2id, hashed off the event loop; the
session is a signed cookie (itsdangerous), HttpOnly and SameSite=Lax; sign-in attempts are
rate-limited per client IP in the database."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Final

from aiohttp import web

from mailgate.services import customers
from mailgate.signing import LinkError, sign, verify
from mailgate.storage import web as web_rows

if TYPE_CHECKING:
    from mailgate.web.server import WebPages

SESSION_COOKIE: Final = "mg_session"
SESSION_TTL: Final = timedelta(hours=12)
SIGN_INS_PER_HOUR: Final = 10
MIN_PASSWORD: Final = 10


class Account:
    def __init__(self, pages: WebPages) -> None:
        self.pages = pages
        self.ctx = pages.ctx

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/activate/{token}", self.show_activate)
        app.router.add_post("/activate/{token}", self.activate)
        app.router.add_get("/login", self.show_login)
        app.router.add_post("/login", self.login)
        app.router.add_post("/logout", self.logout)
        app.router.add_get("/account", self.account)
        app.router.add_get("/account/case/{id}", self.case)
        app.router.add_get("/rate/{token}/{verdict:good|bad}", self.rate)

    def signed_in(self, request: web.Request) -> int | None:
        """The signed-in customer's id, or None."""
        try:
            payload = verify(self.ctx.secret, "session", request.cookies.get(SESSION_COOKIE, ""),
                             self.ctx.clock.now())
        except LinkError:
            return None
        value = payload.get("c")
        return value if isinstance(value, int) else None

    async def show_activate(self, request: web.Request) -> web.Response:
        try:
            who = await customers.peek_activation(self.ctx, request.match_info["token"])
        except LinkError as exc:
            return self.pages._error(400, "Link not valid", f"{str(exc).capitalize()}.")
        return self._activate_page(request, who["name"], who["fields"], {})

    def _activate_page(self, request: web.Request, name: str, fields: dict[str, str],
                       errors: dict[str, str], status: int = 200) -> web.Response:
        return self.pages._with_csrf(request, "activate", "activate", status, name=name,
                                     fields=fields, errors=errors, min_password=MIN_PASSWORD)

    async def activate(self, request: web.Request) -> web.Response:
        posted = await request.post()
        values = {k: str(v) for k, v in posted.items() if isinstance(v, str)}
        if not self.pages._csrf_ok(request, "activate", values.get("csrf_token", "")):
            return self.pages._error(403, "Expired form", "Please open the link from the mail again.")
        token = request.match_info["token"]
        try:
            who = await customers.peek_activation(self.ctx, token)
        except LinkError as exc:
            return self.pages._error(400, "Link not valid", f"{str(exc).capitalize()}.")
        password, errors = values.get("password", ""), {}
        if len(password) < MIN_PASSWORD:
            errors["password"] = f"Please choose a password of {MIN_PASSWORD} characters or more."
        elif password != values.get("password_confirm", ""):
            errors["password_confirm"] = "The two passwords differ."
        fields = {k: values.get(f"field_{k}", str(v)).strip()[:1000] for k, v in who["fields"].items()}
        if errors:
            return self._activate_page(request, values.get("name", who["name"]), fields, errors, 400)
        try:
            done = await customers.activate_account(self.ctx, token, password, values.get("name", ""), fields)
        except LinkError as exc:
            return self.pages._error(400, "Link not valid", f"{str(exc).capitalize()}.")
        return self.pages._page("activated", email=done["email"])

    async def show_login(self, request: web.Request) -> web.Response:
        return self.pages._with_csrf(request, "login", "login", 200, email="", error="")

    async def login(self, request: web.Request) -> web.Response:
        posted = await request.post()
        values = {k: str(v) for k, v in posted.items() if isinstance(v, str)}
        if not self.pages._csrf_ok(request, "login", values.get("csrf_token", "")):
            return self.pages._error(403, "Expired form", "Please open the sign-in page again.")
        ip, now = request.remote or "", self.ctx.clock.now()
        tried = await self.ctx.db.run(lambda s: web_rows.hits(s, "login", ip, now - timedelta(hours=1)))
        if tried >= SIGN_INS_PER_HOUR:
            return self.pages._error(429, "Too many attempts", "Please wait an hour before signing in again.")
        email = values.get("email", "").strip().lower()
        who = await customers.sign_in(self.ctx, email, values.get("password", ""))
        if who is None:
            await self.ctx.db.run(lambda s: web_rows.add_hit(s, "login", ip, now))
            return self.pages._with_csrf(request, "login", "login", 400, email=email,
                                         error="That address and password do not match an active account.")
        response = web.HTTPSeeOther("/account")
        session = sign(self.ctx.secret, "session", {"c": who["id"]}, now + SESSION_TTL)
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Lax", path="/",
                            secure=self.pages.cfg.public_url.startswith("https:"))
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        response = web.HTTPSeeOther("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response

    async def account(self, request: web.Request) -> web.Response:
        who = self.signed_in(request)
        found = await customers.account(self.ctx, who) if who is not None else None
        if found is None:
            raise web.HTTPSeeOther("/login")
        return self.pages._page("account", customer=found)

    async def case(self, request: web.Request) -> web.Response:
        who = self.signed_in(request)
        if who is None:
            raise web.HTTPSeeOther("/login")
        try:
            case_id = int(request.match_info["id"])
        except ValueError:
            return self.pages._error(404, "No such case", "There is no case at this address.")
        shown = await customers.public_case(self.ctx, who, case_id)
        if shown is None:
            return self.pages._error(403, "Not yours", "This case belongs to someone else.")
        return self.pages._page("case", case=shown)

    async def rate(self, request: web.Request) -> web.Response:
        """A one-click rating from ``case_closed``: kept as feedback, and a small thank-you."""
        verdict = request.match_info["verdict"]
        try:
            tag = await customers.rate(self.ctx, request.match_info["token"], verdict)
        except LinkError as exc:
            return self.pages._error(400, "Link not valid", f"{str(exc).capitalize()}.")
        return self.pages._page("rated", tag=tag, good=verdict == "good")
