"""alpaca-py, unmodified, against `fillproof serve`, on loopback.

Each case starts `fillproof serve SCENARIO --port 0`, points a short bot
written the way alpaca-py's documentation shows at it by changing only the
base URL, posts the bot's belief to /_fillproof/claims, shuts the server
down and checks the report it wrote against what the case is about.

Usage: python e2e/alpaca_py/run.py path/to/fillproof
Exit status 0 when every case holds, 1 otherwise.
"""

import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.live import StockDataStream
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from alpaca.trading.stream import TradingStream

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "PKFILLPROOF", "fillproof-secret"


class Served:
    """`fillproof serve` in a child process, with its report at the end."""

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

    def claim(self, filled, avg_price=None):
        body = {"filled_qty": filled}
        if avg_price is not None:
            body["avg_price"] = avg_price
        answer = requests.post(f"{self.url}/_fillproof/claims", json=body, timeout=10)
        answer.raise_for_status()

    def shutdown(self):
        requests.post(f"{self.url}/_fillproof/shutdown", timeout=10)
        self.summary = self.process.stdout.read()
        code = self.process.wait(timeout=30)
        report = json.loads(self.report_path.read_text())
        self.dir.cleanup()
        return code, report


def wait_for_fill(client, order_id, deadline_s=5.0):
    """Polls the order until it is filled or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        order = client.get_order_by_id(order_id)
        if order.status == OrderStatus.FILLED or time.monotonic() > deadline:
            return order
        time.sleep(0.05)


def wait_until(condition, deadline_s, what):
    """Waits for `condition()` to hold, at most `deadline_s` seconds."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {deadline_s} s")
        time.sleep(0.02)


def price(value):
    """A price as alpaca-py gives it (a float from the data API, a string
    from the trading API) as the exact decimal it was sent as."""
    return Decimal(str(value))


def case_documented_bot(fillproof):
    """Market orders with client ids, polled to their fills, with the
    stream listening; positions, account, clock and order lists read. No
    missed fill, no invented one, no duplicate, and the stream saw every
    fill."""
    served = Served(fillproof, "scenarios/wire/calm-session.yaml")
    client = TradingClient(KEY, SECRET, paper=True, url_override=served.url)
    events = []

    async def on_update(update):
        events.append((update.event, str(update.order.client_order_id)))

    stream = TradingStream(KEY, SECRET, paper=True,
                           url_override=served.url.replace("http://", "ws://") + "/stream")
    stream.subscribe_trade_updates(on_update)
    listener = threading.Thread(target=stream.run, daemon=True)
    listener.start()
    time.sleep(0.5)

    account = client.get_account()
    assert account.status == "ACTIVE", account.status
    assert client.get_clock().is_open
    ids = [f"bot-{i}" for i in range(3)]
    orders = [client.submit_order(MarketOrderRequest(
        symbol="SPY", qty=5, side=OrderSide.BUY,
        time_in_force=TimeInForce.DAY, client_order_id=cid)) for cid in ids]
    filled = {}
    for order in orders:
        final = wait_for_fill(client, order.id)
        assert final.status == OrderStatus.FILLED, final.status
        same = client.get_order_by_client_id(order.client_order_id)
        assert str(same.id) == str(order.id)
        filled[order.client_order_id] = str(final.filled_qty)
    listed = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))
    assert {o.client_order_id for o in listed} == set(ids), listed
    position = client.get_open_position("SPY")
    assert float(position.qty) == 15.0, position.qty
    assert len(client.get_all_positions()) == 1
    try:
        client.get_open_position("QQQ")
        raise AssertionError("a flat symbol has no position")
    except APIError as error:
        assert error.status_code == 404 and error.code == 40410000, error
    client.cancel_orders()
    time.sleep(0.3)
    stream.stop()

    served.claim(filled)
    code, report = served.shutdown()
    assert code == 0, served.summary
    assert report["missed_fills"] == 0, report
    assert report["false_positives"] == 0, report
    assert report["duplicate_orders"] == 0, report
    assert report["detection_rate"] == 1.0, report
    fills = {cid for event, cid in events if event == "fill"}
    assert fills == set(ids), f"stream fills {fills}, events {events}"


def case_504_retry_duplicates_without_client_id(fillproof):
    """The first submit is applied and answered 504; alpaca-py retries it
    on its own 3 s later. With no client_order_id the broker cannot tell
    the retry from a new order: the bot sees one success, the broker holds
    two orders, and the report says so (and `serve` exits 1)."""
    served = Served(fillproof, "scenarios/wire/submit-504.yaml")
    client = TradingClient(KEY, SECRET, paper=True, url_override=served.url)
    order = client.submit_order(MarketOrderRequest(
        symbol="SPY", qty=5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    final = wait_for_fill(client, order.id)
    served.claim({final.client_order_id: str(final.filled_qty)})
    code, report = served.shutdown()
    print(served.summary, end="")
    assert code == 1, served.summary
    assert report["orders_placed"] == 2, report
    assert report["duplicate_orders"] == 1, report
    duplicate = [o for o in report["orders"] if o["duplicate_of"]]
    assert duplicate and duplicate[0]["id"] == str(order.id), report
    assert report["missed_fills"] == 1, report


def case_504_retry_refused_with_client_id(fillproof):
    """The same 504 with a client_order_id: alpaca-py's retry is refused
    (422, code 40010001) although the order exists; a bot that looks it up
    by its id finds it, and nothing is duplicated."""
    served = Served(fillproof, "scenarios/wire/submit-504.yaml")
    client = TradingClient(KEY, SECRET, paper=True, url_override=served.url)
    try:
        client.submit_order(MarketOrderRequest(
            symbol="SPY", qty=5, side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY, client_order_id="bot-0"))
        raise AssertionError("the retry of an applied submit must be refused")
    except APIError as error:
        assert error.status_code == 422 and error.code == 40010001, error
    order = client.get_order_by_client_id("bot-0")
    final = wait_for_fill(client, order.id)
    served.claim({"bot-0": str(final.filled_qty)})
    code, report = served.shutdown()
    assert code == 0, served.summary
    assert report["orders_placed"] == 1, report
    assert report["duplicate_orders"] == 0, report
    assert report["missed_fills"] == 0, report


def case_market_data_bot(fillproof):
    """A bot that reads the market before it trades: the data stream's
    trades and quotes, minute bars, the latest quote; a limit buy of about
    $10,000 at the ask it read, and a second limit buy at the ask of a
    quote the stream brings. Both fill; the report is clean; each fill is
    at or below its limit, at exactly the ask the stream showed for the
    step the fill happened in (the broker buys at the touch), and the
    REST quote, the bars, the trades and the quotes agree with each other.
    The market moved while the bot watched it, so a fill priced at any
    other step's quote, at the bid, or off the quotes would not match."""
    served = Served(fillproof, "scenarios/wire/market-data-bot.yaml")
    trading = TradingClient(KEY, SECRET, paper=True, url_override=served.url)
    data = StockHistoricalDataClient(KEY, SECRET, url_override=served.url)
    stream = StockDataStream(KEY, SECRET,
                             url_override=served.url.replace("http://", "ws://") + "/v2/iex")
    quotes, trades, placed, errors = [], [], {}, []
    first_placed = threading.Event()

    def buy_at_ask(quote, client_order_id):
        return trading.submit_order(LimitOrderRequest(
            symbol="SPY", qty=int(10_000 // quote.ask_price), side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY, limit_price=quote.ask_price,
            client_order_id=client_order_id))

    async def on_quote(quote):
        quotes.append(quote)
        if first_placed.is_set() and "second" not in placed:
            try:
                placed["second"] = (quote, buy_at_ask(quote, "md-bot-1"))
            except Exception as error:  # reported by the case, not lost in the stream's log
                errors.append(error)
                placed["second"] = None

    async def on_trade(trade):
        trades.append(trade)

    stream.subscribe_quotes(on_quote, "SPY")
    stream.subscribe_trades(on_trade, "SPY")
    listener = threading.Thread(target=stream.run, daemon=True)
    listener.start()
    # The feed is live once its first quote came: from then on it shows
    # every step of the path.
    wait_until(lambda: quotes, 10, "quote on the data stream")

    seen_trades = list(trades)
    bars = data.get_stock_bars(StockBarsRequest(
        symbol_or_symbols="SPY", timeframe=TimeFrame.Minute,
        start=datetime.now(timezone.utc) - timedelta(minutes=10)))["SPY"]
    latest = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="SPY"))["SPY"]
    first = buy_at_ask(latest, "md-bot-0")
    placed["first"] = (latest, first)
    first_placed.set()
    wait_until(lambda: "second" in placed, 5, "second order on a streamed quote")
    assert not errors and placed["second"], errors

    filled, avg = {}, {}
    finals = {}
    for name in ("first", "second"):
        quote, order = placed[name]
        final = wait_for_fill(trading, order.id, deadline_s=10)
        assert final.status == OrderStatus.FILLED, (name, final.status)
        assert price(final.limit_price) == price(quote.ask_price), final.limit_price
        filled[final.client_order_id] = str(final.filled_qty)
        avg[final.client_order_id] = final.filled_avg_price
        finals[name] = final
    position = trading.get_open_position("SPY")
    assert price(position.qty) == sum(price(q) for q in filled.values()), position.qty
    stream.stop()
    listener.join(timeout=5)

    served.claim(filled, avg)
    code, report = served.shutdown()
    assert code == 0, served.summary
    assert report["orders_placed"] == 2, report
    assert report["missed_fills"] == 0, report
    assert report["false_positives"] == 0, report
    assert report["duplicate_orders"] == 0, report
    assert report["detection_rate"] == 1.0, report
    assert report["price_mismatches"] == 0, report

    # The stream's quotes, one per step: the quote in force at an instant
    # is the last one stamped at or before it.
    def in_force(at):
        before = [q for q in quotes if q.timestamp <= at]
        assert before, f"no streamed quote at or before {at}"
        return before[-1]

    assert len({price(q.ask_price) for q in quotes}) >= 2, "the market never moved"
    for trade in trades:
        quote = in_force(trade.timestamp)
        assert quote.timestamp == trade.timestamp, (trade, quote)
        assert price(quote.bid_price) <= price(trade.price) < price(quote.ask_price), (trade, quote)
    assert bars, "no minute bars"
    by_minute = {bar.timestamp: bar for bar in bars}
    for trade in seen_trades:
        bar = by_minute.get(trade.timestamp.replace(second=0, microsecond=0))
        assert bar and bar.low <= trade.price <= bar.high, (trade, bar)
    streamed = in_force(latest.timestamp)
    assert (latest.bid_price, latest.ask_price) == (streamed.bid_price, streamed.ask_price), \
        (latest, streamed)
    ledger = {o["client_order_id"]: o for o in report["orders"]}
    for name, final in finals.items():
        fill = price(final.filled_avg_price)
        touch = in_force(final.filled_at)
        assert fill <= price(final.limit_price), (name, fill, final.limit_price)
        assert fill == price(touch.ask_price), (name, fill, touch)
        assert price(touch.bid_price) < fill, (name, fill, touch)
        truth = ledger[final.client_order_id]["fills"]
        assert [price(f["price"]) for f in truth] == [fill], (name, truth)
        print(f"      {name}: limit {final.limit_price}, filled {final.filled_qty} at "
              f"{final.filled_avg_price}, ask {touch.ask_price} bid {touch.bid_price} "
              f"at {touch.timestamp:%H:%M:%S.%f}, fill at {final.filled_at:%H:%M:%S.%f}")
    print("      " + served.summary.replace("\n", "\n      ").rstrip())


def main():
    fillproof = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/release/fillproof")
    cases = [case_documented_bot, case_504_retry_duplicates_without_client_id,
             case_504_retry_refused_with_client_id, case_market_data_bot]
    failed = 0
    for case in cases:
        started = time.monotonic()
        try:
            case(fillproof)
            print(f"ok    {case.__name__} ({time.monotonic() - started:.1f} s)")
        except Exception as error:  # a case's failure is reported, then the rest run
            failed += 1
            print(f"FAIL  {case.__name__}: {error!r}")
    print(f"alpaca-py end to end: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
