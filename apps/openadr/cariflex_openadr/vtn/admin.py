"""The operator's HTTP API, bound to 127.0.0.1 inside the container; the CLI is its client.

POST   /events             {"kind", "value" | "values", "start"?, "duration_minutes"?}
PATCH  /events/{event_id}  {"value" | "values"?, "end"?}
DELETE /events/{event_id}
POST   /prices/publish     {"day"?}
GET    /status
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from cariflex_openadr.signals import EventKind, Interval, InvalidEvent

if TYPE_CHECKING:
    from cariflex_openadr.vtn.server import VTN

OPERATOR_KINDS = {EventKind.LOAD_CONTROL, EventKind.DEMAND_RESPONSE}
DEFAULT_DR_MINUTES = 60.0


def _values(body: dict[str, Any]) -> list[float] | None:
    if "values" in body:
        return [float(v) for v in body["values"]]
    if "value" in body:
        return [float(body["value"])]
    return None


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise InvalidEvent(f"time {text} needs a UTC offset")
    return moment


def _bad(err: Exception) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=f"{err}\n")


def admin_app(vtn: VTN) -> web.Application:
    routes = web.RouteTableDef()

    @routes.post("/events")
    async def create(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            kind = EventKind(body["kind"])
            if kind not in OPERATOR_KINDS:
                raise InvalidEvent("operators create load_control or demand_response events")
            values = _values(body)
            if not values:
                raise InvalidEvent("give 'value' or 'values'")
            start = _when(body.get("start")) or datetime.now(UTC).replace(microsecond=0)
            default_minutes = (
                vtn.config.load_control_default_hours * 60
                if kind is EventKind.LOAD_CONTROL
                else DEFAULT_DR_MINUTES
            )
            total = timedelta(minutes=float(body.get("duration_minutes", default_minutes)))
            step = total / len(values)
            intervals = [Interval(start + n * step, step, v) for n, v in enumerate(values)]
            record = vtn.create_event(kind, intervals)
        except (KeyError, ValueError, TypeError) as err:
            raise _bad(err) from err
        return web.json_response(vtn._event_status(record), status=201)

    @routes.patch("/events/{event_id}")
    async def modify(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            record = vtn.modify_event(
                request.match_info["event_id"], _values(body), _when(body.get("end"))
            )
        except KeyError as err:
            raise web.HTTPNotFound(text=f"no event {err}\n") from err
        except (ValueError, TypeError) as err:
            raise _bad(err) from err
        return web.json_response(vtn._event_status(record))

    @routes.delete("/events/{event_id}")
    async def cancel(request: web.Request) -> web.Response:
        try:
            record = vtn.cancel_event(request.match_info["event_id"])
        except KeyError as err:
            raise web.HTTPNotFound(text=f"no event {err}\n") from err
        except ValueError as err:
            raise _bad(err) from err
        return web.json_response(vtn._event_status(record))

    @routes.post("/prices/publish")
    async def publish(request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
            day = date.fromisoformat(body["day"]) if body.get("day") else date.today()
            record = await vtn.publish_prices(day)
        except (ValueError, TypeError, OSError) as err:
            raise _bad(err) from err
        if record is None:
            raise web.HTTPConflict(text="no price source configured\n")
        return web.json_response(vtn._event_status(record), status=201)

    @routes.get("/status")
    async def status(request: web.Request) -> web.Response:
        return web.json_response(vtn.status())

    app = web.Application()
    app.add_routes(routes)
    return app
