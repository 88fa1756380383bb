"""The web UI in a real browser (Debian's Chromium through Playwright) against ``otlpy run``
holding telemetry sent by the OpenTelemetry SDK.

Screenshots of every view, light and dark, go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import itertools
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otlpy_process import DemoApp, OtlpyProcess, wait_until
from store_builders import MS, make_span, trace_request

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")

SHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OtlpyProcess, DemoApp]]:
    otlpy = OtlpyProcess(tmp_path_factory.mktemp("browser") / "data").start()
    app = DemoApp("browser")
    try:
        app.send("http", f"http://127.0.0.1:{otlpy.http_port}")

        def stored() -> bool:
            counts = otlpy.json("/api/otlpy/info")["counts"]
            return bool(
                counts["spans"] == len(app.spans)
                and counts["logs"] == len(app.logs)
                and counts["metric_points"]
            )

        wait_until(stored)
        yield otlpy, app
    finally:
        otlpy.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(params=["light", "dark"])
def page(request: pytest.FixtureRequest, browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, color_scheme=request.param
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.scheme = request.param
    yield page
    context.close()
    assert errors == [], errors


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{page.scheme}.png"))


def test_search_then_open_a_trace_with_the_keyboard(
    page: Any, server: tuple[OtlpyProcess, DemoApp]
) -> None:
    otlpy, app = server
    page.goto(otlpy.url + "/")
    rows = page.locator(".trace-row")
    rows.first.wait_for()
    assert rows.count() == 4
    assert page.locator(".plot circle.dot").count() == 4
    assert page.locator(".plot circle.dot.error").count() == 1
    options = page.locator("#f-service option").all_inner_texts()
    assert options == ["All services", "checkout", "frontend", "payment"]
    assert page.locator(".counts").inner_text().startswith(f"{len(app.spans)} spans")
    shot(page, "search")
    # a custom time range: the last hour, typed as from/to
    page.select_option("#f-lookback", "custom")
    assert page.locator(".custom-range").is_visible()
    page.click("button.primary")
    page.wait_for_url(re.compile(r"lookback=custom&start=.*&end="))
    page.locator(".trace-row").first.wait_for()
    assert page.locator(".trace-row").count() == 4
    assert page.input_value(".custom-range input >> nth=0") != ""
    # "/" focuses the form; choose a service, narrow with tags, search
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "f-service"
    page.select_option("#f-service", "frontend")
    page.locator("#f-operation option", has_text="GET /checkout").wait_for(state="attached")
    page.fill("#f-tags", "user.id=u0")
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/search\?service=frontend.*tags=user.id%3Du0"))
    page.locator(".trace-row").first.wait_for()
    assert page.locator(".trace-row").count() == 1
    # j selects, Enter opens
    page.locator("body").click(position={"x": 5, "y": 600})
    page.keyboard.press("j")
    assert "selected" in (page.locator(".trace-row").first.get_attribute("class") or "")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(f"/trace/{app.trace_ids()[0]}"))
    page.locator(".span-row").first.wait_for()


def test_trace_waterfall_details_and_logs(page: Any, server: tuple[OtlpyProcess, DemoApp]) -> None:
    otlpy, app = server
    trace_id = app.trace_ids()[0]
    page.goto(f"{otlpy.url}/trace/{trace_id}")
    rows = page.locator(".span-row")
    rows.first.wait_for()
    names = [(r.locator(".svc").inner_text(), r.locator(".op").inner_text()) for r in rows.all()]
    # the spans in order, each under its parent
    assert names == [
        ("frontend", "GET /checkout"),
        ("frontend", "POST checkout"),
        ("checkout", "PlaceOrder"),
        ("checkout", "Charge"),
        ("payment", "Charge"),
    ]
    indents = [
        int(r.locator(".span-name").evaluate("e => parseFloat(e.style.paddingLeft)"))
        for r in rows.all()
    ]
    assert indents == sorted(indents) and len(set(indents)) == 5
    tops = [r.evaluate("e => e.getBoundingClientRect().top") for r in rows.all()]
    assert tops == sorted(tops)
    # the bars are where the spans are in time: each child starts inside its parent
    bars = [r.locator(".bar").bounding_box() for r in rows.all()]
    for parent, child in itertools.pairwise(bars):
        assert child["x"] >= parent["x"] - 1
        assert child["x"] + child["width"] <= parent["x"] + parent["width"] + 2
    assert page.locator(".span-row .err-icon").count() == 1
    assert page.locator(".fact", has_text="Spans").inner_text().endswith("5")
    # open the failed span's details
    rows.nth(4).click()
    details = page.locator("aside.details")
    details.wait_for()
    assert "card declined" in details.inner_text()
    assert details.locator("h4", has_text="Events (1)").count() == 1
    assert details.locator("h4", has_text="Logs (1)").count() == 1
    assert "payment failed: card declined" in details.inner_text()
    assert "service.version" in details.inner_text()
    shot(page, "trace")
    # keyboard: k moves up, h collapses, l expands, Esc closes the details
    page.keyboard.press("k")
    assert "selected" in (rows.nth(3).get_attribute("class") or "")
    page.keyboard.press("h")
    assert page.locator(".span-row").count() == 4
    page.keyboard.press("l")
    assert page.locator(".span-row").count() == 5
    page.keyboard.press("Escape")
    assert details.is_hidden()
    # collapse the root: one row; the find box dims what does not match
    page.locator(".span-row").first.locator("button.toggle").click()
    assert page.locator(".span-row").count() == 1
    page.locator(".span-row").first.locator("button.toggle").click()
    page.fill("input.filter", "payment")
    assert page.locator(".span-row.match").count() == 1
    assert page.locator(".span-row.dim").count() == 4
    # the trace's logs
    page.click("button.tab:has-text('Logs')")
    lines = page.locator(".trace-logs .log-line")
    assert lines.count() == 2
    assert {line.locator(".sev").inner_text().lower() for line in lines.all()} == {"info", "error"}
    shot(page, "trace-logs")
    lines.filter(has_text="payment failed").click()
    assert "selected" in (page.locator(".span-row").nth(4).get_attribute("class") or "")


def test_logs_filters_details_and_jump_to_trace(
    page: Any, server: tuple[OtlpyProcess, DemoApp]
) -> None:
    otlpy, app = server
    page.goto(otlpy.url + "/logs")
    rows = page.locator(".log-row")
    rows.first.wait_for()
    assert rows.count() == len(app.logs)
    shot(page, "logs")
    page.select_option("select[aria-label=Severity]", "error")
    page.wait_for_url(re.compile(r"/logs\?severity=error"))
    page.locator(".log-row").first.wait_for()
    assert page.locator(".log-row").count() == 1
    page.locator(".log-row").first.click()
    details = page.locator(".log-details")
    assert "payment failed: card declined" in details.inner_text()
    assert "service.name=payment" in details.inner_text()
    page.locator(".log-row .trace-link").first.click()
    page.wait_for_url(re.compile(f"/trace/{app.trace_ids()[0]}"))
    page.locator(".span-row").first.wait_for()


def test_live_tail_shows_new_records(page: Any, server: tuple[OtlpyProcess, DemoApp]) -> None:
    otlpy, _ = server
    page.goto(otlpy.url + "/logs?live=1&service=live-" + page.scheme)
    page.locator("button.live.on").wait_for()
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    provider = LoggerProvider(resource=Resource.create({"service.name": "live-" + page.scheme}))
    exporter = OTLPLogExporter(endpoint=f"http://127.0.0.1:{otlpy.http_port}/v1/logs")
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("live").emit(severity_number=SeverityNumber.WARN, body="it is live")
    provider.shutdown()
    page.locator(".log-row", has_text="it is live").wait_for()


def test_metrics_charts(page: Any, server: tuple[OtlpyProcess, DemoApp]) -> None:
    otlpy, _ = server
    page.goto(otlpy.url + "/metrics?name=demo.orders&group_by=region")
    cards = page.locator(".chart-card")
    cards.first.wait_for()
    assert cards.count() == 2
    assert page.locator(".metric-item").count() == 3
    assert {c.locator(".labels").inner_text() for c in cards.all()} == {"region=eu", "region=us"}
    assert page.locator(".chart-card svg path.line").count() == 2
    shot(page, "metrics")
    page.click(".metric-item:has-text('demo.checkout.duration')")
    page.locator("rect.bar").first.wait_for()
    assert page.locator("rect.bar").count() == 4
    assert page.locator(".fact", has_text="Count").inner_text().endswith("4")
    shot(page, "histogram")


def test_service_map(page: Any, server: tuple[OtlpyProcess, DemoApp]) -> None:
    otlpy, _ = server
    page.goto(otlpy.url + "/dependencies")
    page.locator("svg.depgraph").wait_for()
    assert page.locator("svg.depgraph g.node").count() == 3
    assert page.locator("svg.depgraph path.edge").count() == 2
    shot(page, "service-map")
    page.locator("svg.depgraph g.node", has_text="payment").click()
    page.wait_for_url(re.compile(r"/search\?service=payment"))


def test_help_overlay(page: Any, server: tuple[OtlpyProcess, DemoApp]) -> None:
    otlpy, _ = server
    page.goto(otlpy.url + "/search")
    page.locator(".trace-row").first.wait_for()
    page.keyboard.press("?")
    assert page.locator(".dialog").is_visible()
    page.keyboard.press("Escape")
    assert page.locator(".dialog").is_hidden()
    page.keyboard.press("g")
    page.keyboard.press("l")
    page.wait_for_url(re.compile(r"/logs$"))


def test_empty_store_tells_how_to_send_data(browser: Any, tmp_path: Path) -> None:
    otlpy = OtlpyProcess(tmp_path / "empty").start()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(otlpy.url + "/")
        empty = page.locator(".empty", has_text="No traces yet")
        empty.wait_for()
        # the endpoints this collector's otlp receiver listens on, not the defaults
        text = empty.inner_text()
        assert f"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{otlpy.http_port}\n" in text
        assert "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf" in text
        assert f"OTLP/gRPC is on http://127.0.0.1:{otlpy.grpc_port} and OTLP/HTTP on " in text
        assert "4318" not in text.replace(str(otlpy.http_port), "")
        info = otlpy.json("/api/otlpy/info")["otlp"]
        assert info == {
            "grpc": {"scheme": "http", "host": "127.0.0.1", "port": otlpy.grpc_port},
            "http": {"scheme": "http", "host": "127.0.0.1", "port": otlpy.http_port},
        }
        page.scheme = "light"
        shot(page, "empty")
        # the page comes alive once spans arrive
        DemoApp("late").send("http", f"http://127.0.0.1:{otlpy.http_port}")
        page.locator(".trace-row").first.wait_for(timeout=30_000)
        page.close()
    finally:
        otlpy.stop()


def test_a_trace_of_twenty_thousand_spans(page: Any, server: tuple[OtlpyProcess, DemoApp]) -> None:
    """Only the rows in view are in the page; scrolling reaches the last span.

    Spans 2..100 are children of the root; span i > 100 is a child of span i % 100 + 2.
    """
    otlpy, _ = server
    trace = 0xB16 + (page.scheme == "dark")
    now = time.time_ns()
    spans = [make_span(trace, 1, name="root", start=now - 100 * MS, duration=90 * MS)]
    spans += [
        make_span(
            trace,
            i,
            parent=1 + (i > 100) * (i % 100 + 1),
            name=f"op-{i}",
            start=now - 99 * MS + i * 1000,
        )
        for i in range(2, 20_001)
    ]
    body = trace_request("big", spans).SerializeToString()
    request = urllib.request.Request(
        f"http://127.0.0.1:{otlpy.http_port}/v1/traces",
        data=body,
        headers={"Content-Type": "application/x-protobuf"},
    )
    urllib.request.urlopen(request, timeout=30).read()
    trace_id = f"{trace:032x}"
    wait_until(lambda: otlpy.get(f"/api/otlpy/traces/{trace_id}")[0] == 200)
    wait_until(lambda: len(otlpy.json(f"/api/otlpy/traces/{trace_id}")["trace"]["spans"]) == 20_000)
    page.goto(f"{otlpy.url}/trace/{trace_id}")
    page.locator(".span-row").first.wait_for(timeout=30_000)
    assert page.locator(".fact", has_text="Spans").inner_text().endswith("20000")
    assert page.locator(".span-row").count() < 200
    page.locator(".waterfall-scroll").evaluate("e => { e.scrollTop = e.scrollHeight; }")
    # depth first: the last child (op-100) of the root, then its last child
    page.locator(".span-row", has_text="op-19998").wait_for()
    page.keyboard.press("/")
    page.keyboard.type("op-19999")
    page.keyboard.press("Enter")
    page.locator("aside.details", has_text="op-19999").wait_for()
