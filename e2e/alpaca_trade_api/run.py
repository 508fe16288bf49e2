"""alpaca-trade-api 3.2.0 (Alpaca's legacy Python SDK), unmodified, against
`fillproof serve`, on loopback.

Each case starts `fillproof serve SCENARIO --port 0`, points a short bot
written the way that SDK's README shows (`tradeapi.REST`, `Stream` with
`subscribe_trade_updates`) at it by changing only the base URLs, posts the
bot's belief to /_fillproof/claims, shuts the server down and checks the
report it wrote against what the case is about.

The SDK pins old aiohttp/websockets/urllib3 releases, so it runs in a
virtual environment of its own (requirements.txt beside this file).

Usage: python e2e/alpaca_trade_api/run.py path/to/fillproof
Exit status 0 when every case holds, 1 otherwise.
"""

import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import websockets

import alpaca_trade_api as tradeapi
from alpaca_trade_api.common import URL
from alpaca_trade_api.rest import APIError, TimeFrame
from alpaca_trade_api.stream import Stream

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "PKFILLPROOF", "fillproof-secret"


class Served:
    """`fillproof serve` in a child process, with its report at the end."""

    running = []  # servers a failed case left running, stopped by main()

    def __init__(self, fillproof, scenario):
        self.dir = tempfile.TemporaryDirectory()
        self.report_path = Path(self.dir.name) / "report.json"
        self.process = subprocess.Popen(
            [fillproof, "serve", str(ROOT / scenario), "--port", "0",
             "--report", str(self.report_path)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT)
        first = self.process.stdout.readline().strip()
        prefix = "listening on "
        if not first.startswith(prefix):
            self.process.kill()
            raise RuntimeError(f"serve printed {first!r}, not its address")
        self.url = first[len(prefix):]
        self.summary = ""
        Served.running.append(self)

    def claim(self, filled, avg_price=None):
        body = {"filled_qty": filled}
        if avg_price is not None:
            body["avg_price"] = avg_price
        answer = requests.post(f"{self.url}/_fillproof/claims", json=body, timeout=10)
        assert answer.status_code == 200, f"claims refused: {answer.status_code} {answer.text}"

    def shutdown(self):
        requests.post(f"{self.url}/_fillproof/shutdown", timeout=10)
        self.summary = self.process.stdout.read()
        code = self.process.wait(timeout=30)
        Served.running.remove(self)
        report = json.loads(self.report_path.read_text())
        self.dir.cleanup()
        return code, report


def expect(what, expected, came):
    """Fails the case naming what was checked, what was expected, what came."""
    if expected != came:
        raise AssertionError(f"{what}: expected {expected!r}, got {came!r}")


def expect_clean(report, code, served):
    """The report of a bot that believed exactly what the broker did."""
    expect("serve's exit code (summary: " + served.summary.strip() + ")", 0, code)
    for metric, value in [("missed_fills", 0), ("false_positives", 0),
                          ("duplicate_orders", 0), ("detection_rate", 1.0)]:
        expect(f"report {metric}", value, report.get(metric))


def wait_until(condition, deadline_s, what):
    """Waits for `condition()` to hold, at most `deadline_s` seconds."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {deadline_s} s")
        time.sleep(0.02)


def poll_until_filled(api, order_id, deadline_s=5.0):
    """REST polling, as the README's bots do: get_order until it is filled."""
    read = {}

    def filled():
        read["order"] = api.get_order(order_id)
        return read["order"].status == "filled"

    wait_until(filled, deadline_s, f"fill of order {order_id} read by get_order")
    return read["order"]


def ws_url(served):
    return served.url.replace("http://", "ws://")


def probe_stream(served):
    """What serve answers the websocket upgrade the SDK sends (to
    `<base>/stream/`), for a failure message that says why no event came."""
    async def probe():
        try:
            async with websockets.connect(ws_url(served) + "/stream/", open_timeout=3):
                return "the upgrade was accepted"
        except Exception as error:  # the reason is the message
            return f"{type(error).__name__}: {error}"
    return asyncio.run(probe())


class TradeUpdates:
    """The SDK's `Stream` on serve's address, listening to trade_updates
    (it connects to `<base_url>/stream/`), keeping every event as
    (event, client_order_id)."""

    def __init__(self, served):
        self.served = served
        self.events = []
        self.stopped = False
        self.stream = Stream(KEY, SECRET, base_url=URL(served.url),
                             data_stream_url=URL(served.url), data_feed="iex")
        self.stream.subscribe_trade_updates(self.on_trade_update)
        threading.Thread(target=self.stream.run, daemon=True).start()
        time.sleep(0.5)

    async def on_trade_update(self, update):
        self.events.append((update.event, update.order["client_order_id"]))

    def of(self, client_order_id):
        return [event for event, cid in self.events if cid == client_order_id]

    def wait_for(self, event, client_order_id, deadline_s=5.0):
        try:
            wait_until(lambda: event in self.of(client_order_id), deadline_s,
                       f"'{event}' event for {client_order_id} on trade_updates")
        except AssertionError as error:
            raise AssertionError(f"{error}; events seen: {self.events}; serve's answer "
                                 f"to the SDK's upgrade: {probe_stream(self.served)}") from None

    def stop(self):
        """Asks the stream to stop (once); its thread ends on its own at its
        next receive timeout (up to 5 s), not waited for here."""
        if not self.stopped:
            self.stopped = True
            self.stream.stop()


def case_documented_bot(fillproof):
    """The README's bot: REST for account, clock, orders (two market orders
    with a client_order_id, one without, a limit far under the market that
    it cancels), positions and order lists; the Stream for trade_updates.
    Every fill is awaited both on the stream and by polling get_order. The
    bot claims what it read; the report finds nothing missed, invented or
    duplicated."""
    served = Served(fillproof, "scenarios/wire/calm-session.yaml")
    api = tradeapi.REST(KEY, SECRET, base_url=URL(served.url), api_version="v2")
    updates = TradeUpdates(served)
    try:
        documented_bot(served, api, updates)
    finally:
        updates.stop()


def documented_bot(served, api, updates):

    account = api.get_account()
    expect("account status", "ACTIVE", account.status)
    expect("clock is_open", True, api.get_clock().is_open)

    placed = [api.submit_order(symbol="SPY", qty=5, side="buy", type="market",
                               time_in_force="day", client_order_id=f"legacy-{i}")
              for i in range(2)]
    placed.append(api.submit_order(symbol="SPY", qty=3, side="buy", type="market",
                                   time_in_force="day"))
    resting = api.submit_order(symbol="SPY", qty=1, side="buy", type="limit",
                               time_in_force="day", limit_price="500.00",
                               client_order_id="legacy-rest")
    expect("client_order_id echoed", "legacy-0", placed[0].client_order_id)

    filled = {}
    for order in placed:
        final = poll_until_filled(api, order.id)
        same = api.get_order_by_client_order_id(order.client_order_id)
        expect(f"get_order_by_client_order_id({order.client_order_id}).id", order.id, same.id)
        filled[order.client_order_id] = final.filled_qty
    expect("filled quantities read", {"legacy-0": "5", "legacy-1": "5",
                                      placed[2].client_order_id: "3"}, filled)

    expect("open orders listed", ["legacy-rest"],
           [o.client_order_id for o in api.list_orders(status="open")])
    api.cancel_order(resting.id)
    wait_until(lambda: api.get_order(resting.id).status == "canceled", 3.0,
               "'canceled' status read by get_order after cancel_order")
    filled["legacy-rest"] = api.get_order(resting.id).filled_qty

    listed = api.list_orders(status="all", limit=500)
    expect("orders listed (status=all)", sorted(filled), sorted(o.client_order_id for o in listed))
    expect("SPY position", "13", api.get_position("SPY").qty)
    expect("positions listed", ["SPY"], [p.symbol for p in api.list_positions()])
    try:
        api.get_position("QQQ")
        raise AssertionError("get_position('QQQ'): expected APIError 404, got a position")
    except APIError as error:
        expect("get_position of a flat symbol (status, code)", (404, 40410000),
               (error.status_code, error.code))
    try:
        api.cancel_order(placed[0].id)
        raise AssertionError("cancel_order of a filled order: expected APIError 422, got 204")
    except APIError as error:
        expect("cancel_order of a filled order (status, code)", (422, 42210000),
               (error.status_code, error.code))
    # The stream is judged last, so that the REST calls and the report are
    # checked whatever it delivered; it is stopped before serve is.
    stream_failure = None
    try:
        for order in placed:
            updates.wait_for("fill", order.client_order_id)
        updates.wait_for("canceled", "legacy-rest")
    except AssertionError as error:
        stream_failure = error
    updates.stop()  # before serve stops: the SDK reconnects every 10 ms

    served.claim(filled)
    code, report = served.shutdown()
    expect_clean(report, code, served)
    if stream_failure:
        raise stream_failure


def case_market_data_bot(fillproof):
    """The README's data calls (latest quote and trade, minute bars,
    snapshot) on APCA_API_DATA_URL pointed at serve, then limit buys at the
    asks read (the latest quote's, the snapshot's), each polled to its
    fill; the bot claims quantities and prices, and the report finds them
    right."""
    served = Served(fillproof, "scenarios/wire/market-data-bot.yaml")
    os.environ["APCA_API_DATA_URL"] = served.url
    api = tradeapi.REST(KEY, SECRET, base_url=URL(served.url), api_version="v2")

    quote = api.get_latest_quote("SPY")
    trade = api.get_latest_trade("SPY")
    assert quote.ask_price > quote.bid_price > 0, f"latest quote: {quote}"
    assert trade.price > 0, f"latest trade: {trade}"
    start = (time.time() - 600)
    bars = api.get_bars("SPY", TimeFrame.Minute,
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)))
    assert len(bars) >= 1, f"get_bars: no minute bar in the last 10 minutes: {bars}"
    snapshot = api.get_snapshot("SPY")
    assert snapshot.latest_quote.ask_price > 0, f"snapshot: {snapshot}"

    filled, prices = {}, {}
    for n, ask in enumerate([quote.ask_price, snapshot.latest_quote.ask_price]):
        order = api.submit_order(symbol="SPY", qty=int(10_000 // ask), side="buy",
                                 type="limit", time_in_force="day", limit_price=str(ask),
                                 client_order_id=f"legacy-md-{n}")
        final = poll_until_filled(api, order.id, deadline_s=15.0)
        filled[final.client_order_id] = final.filled_qty
        prices[final.client_order_id] = final.filled_avg_price
    served.claim(filled, prices)
    code, report = served.shutdown()
    expect_clean(report, code, served)
    expect("report price_mismatches", 0, report.get("price_mismatches"))


def case_504_retry_duplicates_without_client_id(fillproof):
    """The first submit is applied and answered 504; the SDK retries a 504
    on its own (APCA_RETRY_CODES 429,504, 3 s apart). Without a
    client_order_id the broker cannot tell the retry from a new order: the
    bot sees one order, the broker holds two, the report says so and
    `serve` exits 1."""
    served = Served(fillproof, "scenarios/wire/submit-504.yaml")
    api = tradeapi.REST(KEY, SECRET, base_url=URL(served.url), api_version="v2")
    order = api.submit_order(symbol="SPY", qty=5, side="buy", type="market",
                             time_in_force="day")
    final = poll_until_filled(api, order.id)
    served.claim({final.client_order_id: final.filled_qty})
    code, report = served.shutdown()
    expect("serve's exit code", 1, code)
    expect("report orders_placed", 2, report["orders_placed"])
    expect("report duplicate_orders", 1, report["duplicate_orders"])
    expect("report missed_fills", 1, report["missed_fills"])
    duplicate = [o["id"] for o in report["orders"] if o["duplicate_of"]]
    expect("the order marked duplicate_of the first", [order.id], duplicate)


def case_504_retry_refused_with_client_id(fillproof):
    """The same 504 with a client_order_id: the SDK's retry is refused
    (422, code 40010001) although the order exists; the bot looks it up by
    its id, as the README's get_order_by_client_order_id allows, and
    nothing is duplicated or missed."""
    served = Served(fillproof, "scenarios/wire/submit-504.yaml")
    api = tradeapi.REST(KEY, SECRET, base_url=URL(served.url), api_version="v2")
    try:
        api.submit_order(symbol="SPY", qty=5, side="buy", type="market",
                         time_in_force="day", client_order_id="legacy-504")
        raise AssertionError("submit_order after a 504: expected APIError 422, got an order")
    except APIError as error:
        expect("the retried submit (status, code)", (422, 40010001),
               (error.status_code, error.code))
    order = api.get_order_by_client_order_id("legacy-504")
    final = poll_until_filled(api, order.id)
    served.claim({"legacy-504": final.filled_qty})
    code, report = served.shutdown()
    expect_clean(report, code, served)
    expect("report orders_placed", 1, report["orders_placed"])


def main():
    # The SDK's stream logs each failed connect (it retries every 10 ms);
    # a case that needs the stream says itself what serve answered.
    logging.getLogger("alpaca_trade_api").setLevel(logging.CRITICAL)
    fillproof = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/release/fillproof")
    os.environ["APCA_RETRY_WAIT"] = "3"  # the SDK's default, stated: the 504 cases rely on it
    cases = [case_documented_bot, case_market_data_bot,
             case_504_retry_duplicates_without_client_id,
             case_504_retry_refused_with_client_id]
    failed = 0
    for case in cases:
        started = time.monotonic()
        try:
            case(fillproof)
            print(f"ok    {case.__name__} ({time.monotonic() - started:.1f} s)")
        except Exception as error:  # a case's failure is reported, then the rest run
            failed += 1
            print(f"FAIL  {case.__name__}: {error}")
        for served in Served.running:
            served.process.kill()
            served.process.wait()
        Served.running.clear()
    print(f"alpaca-trade-api end to end: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
