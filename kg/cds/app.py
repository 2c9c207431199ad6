"""The CDS Hooks service as an ASGI app (FastAPI): ``create_app(settings)`` makes one, to run with uvicorn
(``acr-kg serve``) or to mount in another app.

Every error is a JSON object ``{"error": {"status", "message"}}`` with a 4xx status: bad JSON, a body
over the size limit, a wrong hook, a missing context, FHIR that is not R4, an untrusted caller. A 5xx
means the FHIR server of the EHR failed (502), the service is busy (503, with Retry-After) or a bug of
ours (500); never an answer on guessed data.
"""
from __future__ import annotations

import asyncio
import json
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from kg import __version__
from kg.cds.auth import Unauthorized, Verifier
from kg.cds.feedback import UnknownCard
from kg.cds.models import FeedbackRequest, HookRequest
from kg.cds.service import SERVICES, HookService, RequestRefused
from kg.cds.settings import Settings
from kg.errors import UsageError

log = logging.getLogger("kg.cds")
INSECURE_HEADER = "X-Acr-Kg-Warning"


class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        self.status, self.message, self.headers = status, message, headers
        super().__init__(message)


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status, headers=headers)


def create_app(settings: Settings) -> FastAPI:
    """The app with its own engine, log database and JWT verifier (all made here, so the app works
    mounted in another, where lifespan events do not run)."""
    if settings.verify_jwt and not settings.public_url:
        # The audience of a token is this service as the EHR calls it. A request's own URL will not do:
        # its host comes from the Host header, which the caller chooses, so any token would fit.
        raise UsageError("JWT checks need the public URL of the service (Settings.public_url; acr-kg serve "
                         "--public-url) to check each token's audience against")
    service = HookService.create(settings)
    verifier = Verifier(settings)
    # Hook calls answered at once; the others wait here, not in worker threads: the work holds Python's
    # GIL, so more calls at once only make each slower, and under overload the threads thrash.
    answering = asyncio.Semaphore(settings.concurrent_calls)
    # Calls waiting for their turn. Past the bound a call is refused at once (503 and Retry-After) instead of
    # joining a queue that only grows under overload, where every caller would wait until it gave up.
    waiting = 0
    if not settings.verify_jwt:
        log.warning("JWT verification is OFF: any caller is trusted. For development only, never with real patients.")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        service.close()

    app = FastAPI(title="acr-kg CDS Hooks service", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    app.state.settings = settings
    # CDS Hooks: browser-based EHRs call the service cross-origin, with the JWT in Authorization.
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                       allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["Authorization", "Content-Type"],
                       expose_headers=["Origin", "Accept", "Content-Location", "Location", "X-Requested-With"])

    if not settings.verify_jwt:
        @app.middleware("http")
        async def insecure_banner(request: Request, call_next):
            response = await call_next(request)
            response.headers[INSECURE_HEADER] = "JWT verification disabled (development mode)"
            return response

    @app.exception_handler(_Refused)
    async def refused(request: Request, exc: _Refused):
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail))

    def authenticate(request: Request) -> None:
        if not settings.verify_jwt:
            return
        audience = settings.public_url.rstrip("/") + request.url.path
        try:
            verifier.verify(request.headers.get("authorization"), audience)
        except Unauthorized as exc:
            raise _Refused(401, str(exc), {"WWW-Authenticate": "Bearer"}) from None

    def service_of(service_id: str) -> str:
        if service_id not in SERVICES:
            raise _Refused(404, f"no CDS service {service_id!r}; this server offers {', '.join(SERVICES)}")
        return service_id

    async def body(request: Request, model: type[BaseModel]) -> BaseModel:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > settings.max_body_bytes):
            raise _Refused(413, f"request body over {settings.max_body_bytes} bytes")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > settings.max_body_bytes:
                raise _Refused(413, f"request body over {settings.max_body_bytes} bytes")
        try:
            document = json.loads(data)
        except RecursionError:
            raise _Refused(400, "the JSON body is nested too deeply") from None
        except ValueError as exc:
            raise _Refused(400, f"the body is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise _Refused(400, "the body must be a JSON object")
        try:
            return model.model_validate(document)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:20])
            raise _Refused(400, f"not a valid {model.__name__}: {problems}") from None
        except RecursionError:
            raise _Refused(400, "the JSON body is nested too deeply") from None

    @app.get("/cds-services")
    async def discovery(request: Request):
        authenticate(request)
        return JSONResponse(service.discovery().model_dump(exclude_none=True))

    @app.post("/cds-services/{service_id}")
    async def call(service_id: str, request: Request):
        nonlocal waiting
        service_of(service_id)
        if answering.locked() and waiting >= settings.max_waiting_calls:  # before its token is spent or its body read
            raise _Refused(503, f"busy: {waiting} calls are waiting for their turn; retry in a moment",
                           {"Retry-After": "1"})
        waiting += 1
        try:
            authenticate(request)
            hook_request = await body(request, HookRequest)
            await answering.acquire()
        finally:
            waiting -= 1
        try:
            if await request.is_disconnected():  # the EHR gave up while the call waited its turn
                return JSONResponse({"error": {"status": 499, "message": "the caller went away"}}, status_code=499)
            try:
                answer = await run_in_threadpool(service.answer, service_id, hook_request)
            except RequestRefused as exc:
                raise _Refused(exc.status, str(exc)) from None
        finally:
            answering.release()
        return JSONResponse(answer.model_dump(exclude_none=True))

    @app.post("/cds-services/{service_id}/feedback")
    async def feedback(service_id: str, request: Request):
        service_of(service_id)
        authenticate(request)
        items = (await body(request, FeedbackRequest)).feedback
        try:
            stored = await run_in_threadpool(service.store.add_feedback, service_id, items)
        except UnknownCard as exc:
            raise _Refused(400, str(exc)) from None
        return JSONResponse({"stored": stored})

    return app
