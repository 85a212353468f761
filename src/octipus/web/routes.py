"""Web UI: server-rendered page shells under /ui/, static files under /static.

Pages carry no data and need no session: the browser script signs every API call with the bearer
token the user pasted on the sign-in page (kept in localStorage) and renders the JSON it gets back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from octipus import __version__
from octipus.ingress.providers.registry import provider_choices

WEB_DIR = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=WEB_DIR / "templates")

router = APIRouter(include_in_schema=False)
router.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")

# API data is inserted with textContent only; this policy forbids inline and foreign scripts anyway.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def webhook_base(request: Request) -> str:
    """Base URL senders should post to: `OCTIPUS_PUBLIC_URL`, else the URL this page came from."""
    public_url = request.app.state.runtime.settings.public_url
    return (public_url or str(request.base_url)).rstrip("/")


PROVIDER_CHOICES = provider_choices()  # the hook form's `provider` options


def _page(request: Request, template: str, page: str, **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        template,
        {
            "page": page,
            "version": __version__,
            "webhook_base": webhook_base(request),
            "providers": PROVIDER_CHOICES,
            **context,
        },
    )
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/")
@router.get("/ui")
@router.get("/ui/")
async def home() -> RedirectResponse:
    return RedirectResponse("/ui/hooks", status_code=307)


@router.get("/ui/login")
async def login_page(request: Request) -> HTMLResponse:
    return _page(request, "login.html", "login", title="Sign in")


@router.get("/ui/hooks")
async def hooks_page(request: Request) -> HTMLResponse:
    return _page(request, "hooks.html", "hooks", title="Hooks")


@router.get("/ui/hooks/new")
async def new_hook_page(request: Request) -> HTMLResponse:
    return _page(request, "hook_form.html", "hook-form", title="New hook", hook_id="")


@router.get("/ui/hooks/{hook_id}")
async def edit_hook_page(request: Request, hook_id: str) -> HTMLResponse:
    return _page(request, "hook_form.html", "hook-form", title="Edit hook", hook_id=hook_id)


@router.get("/ui/hooks/{hook_id}/executions")
async def hook_executions_page(request: Request, hook_id: str) -> HTMLResponse:
    return _page(request, "executions.html", "executions", title="Execution Log", hook_id=hook_id)


@router.get("/ui/executions")
async def executions_page(request: Request) -> HTMLResponse:
    return _page(request, "executions.html", "executions", title="Execution Log", hook_id="")


@router.get("/ui/rejections")
async def rejections_page(request: Request) -> HTMLResponse:
    return _page(request, "rejections.html", "rejections", title="Rejections")


@router.get("/ui/settings/channels")
async def channels_page(request: Request) -> HTMLResponse:
    return _page(request, "channels.html", "channels", title="Channels")


@router.get("/ui/settings/tokens")
async def tokens_page(request: Request) -> HTMLResponse:
    return _page(request, "tokens.html", "tokens", title="Tokens")
