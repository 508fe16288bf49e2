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
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.live import StockDataStream
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import (OrderClass, OrderSide, OrderStatus, OrderType, PositionIntent,
                                  QueryOrderStatus, TimeInForce)
from alpaca.trading.models import Order
from alpaca.trading.requests import (ClosePositionRequest, GetOrderByIdRequest, GetOrdersRequest,
                                     LimitOrderRequest, MarketOrderRequest, OptionLegRequest,
                                     ReplaceOrderRequest, StopLimitOrderRequest, StopLossRequest,
                                     StopOrderRequest, TakeProfitRequest,
                                     TrailingStopOrderRequest)
from alpaca.trading.stream import TradingStream

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
        answer.raise_for_status()

    def shutdown(self):
        requests.post(f"{self.url}/_fillproof/shutdown", timeout=10)
        self.summary = self.process.stdout.read()
        code = self.process.wait(timeout=30)
        Served.running.remove(self)
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


def cents(value):
    """A price rounded to the cent, as a bot sends it."""
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def wait_for_status(client, order_id, status, deadline_s=3.0):
    """Polls the order until it reads `status`; returns it as read."""
    read = {}

    def reached():
        read["order"] = client.get_order_by_id(order_id)
        return read["order"].status == status

    wait_until(reached, deadline_s, f"{status.value} for order {order_id}")
    return read["order"]


def claim_every_order(served, client):
    """Claims, for every order the broker lists (each leg on its own),
    the quantity the bot read as filled; returns the claims."""
    listed = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500))
    filled = {o.client_order_id: str(o.filled_qty) for o in listed}
    served.claim(filled)
    return filled


class TradeUpdates:
    """alpaca-py's TradingStream on the served /stream, keeping every
    event as (event name, order id); an event alpaca-py's enum does not
    know arrives as its plain name."""

    def __init__(self, served):
        self.events = []
        self.stream = TradingStream(KEY, SECRET, paper=True,
                                    url_override=served.url.replace("http://", "ws://") + "/stream")
        self.stream.subscribe_trade_updates(self.on_update)
        self.thread = threading.Thread(target=self.stream.run, daemon=True)
        self.thread.start()
        time.sleep(0.5)

    async def on_update(self, update):
        event = getattr(update.event, "value", update.event)
        self.events.append((str(event), str(update.order.id)))

    def saw(self, event, order_id):
        return (event, str(order_id)) in self.events

    def of(self, order_id):
        return [event for event, oid in self.events if oid == str(order_id)]

    def stop(self):
        """Asks the stream to stop; alpaca-py's thread ends on its own at
        its next receive timeout (up to 5 s), not waited for here."""
        self.stream.stop()


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


def case_bracket_bot(fillproof):
    """A bracket placed off the latest quote, its stop moved up by a
    replace, its take profit canceled. The entry fills; both exits rest on
    the still market; the replace answers a new stop leg that `replaces`
    the old one, which goes pending_replace and then replaced and leaves
    the group, the new leg taking its place; canceling the take profit
    cancels the group. The stream carries each step, and the report is
    clean: the entry's fill claimed, the legs claimed at nothing."""
    served = Served(fillproof, "scenarios/wire/bracket-bot.yaml")
    trading = TradingClient(KEY, SECRET, paper=True, url_override=served.url)
    data = StockHistoricalDataClient(KEY, SECRET, url_override=served.url)
    updates = TradeUpdates(served)

    quote = data.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="SPY"))["SPY"]
    take_profit = cents(price(quote.ask_price) * Decimal("1.01"))
    stop = cents(price(quote.bid_price) * Decimal("0.99"))
    entry = trading.submit_order(MarketOrderRequest(
        symbol="SPY", qty=5, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        order_class=OrderClass.BRACKET, client_order_id="bracket-0",
        take_profit=TakeProfitRequest(limit_price=float(take_profit)),
        stop_loss=StopLossRequest(stop_price=float(stop))))
    assert entry.order_class == OrderClass.BRACKET, entry.order_class
    assert entry.legs and len(entry.legs) == 2, entry.legs
    final = wait_for_fill(trading, entry.id)
    assert final.status == OrderStatus.FILLED and price(final.filled_qty) == 5, final

    nested = trading.get_order_by_id(entry.id, GetOrderByIdRequest(nested=True))
    assert nested.legs and len(nested.legs) == 2, nested.legs
    (take_leg,) = [leg for leg in nested.legs if leg.type == OrderType.LIMIT]
    (stop_leg,) = [leg for leg in nested.legs if leg.type == OrderType.STOP]
    assert take_leg.status == OrderStatus.NEW, take_leg.status
    assert price(take_leg.limit_price) == take_profit, take_leg.limit_price
    assert take_leg.side == OrderSide.SELL and stop_leg.side == OrderSide.SELL
    assert price(stop_leg.stop_price) == stop, stop_leg.stop_price
    assert stop_leg.status in (OrderStatus.NEW, OrderStatus.HELD), stop_leg.status

    # Move the stop up a dollar: still under the price, so it keeps resting.
    moved = stop + 1
    new_stop = trading.replace_order_by_id(
        stop_leg.id, ReplaceOrderRequest(stop_price=float(moved)))
    assert str(new_stop.replaces) == str(stop_leg.id), new_stop.replaces
    assert str(new_stop.id) != str(stop_leg.id)
    assert price(new_stop.stop_price) == moved, new_stop.stop_price
    assert new_stop.type == OrderType.STOP and new_stop.order_class == OrderClass.BRACKET, new_stop
    old = wait_for_status(trading, stop_leg.id, OrderStatus.REPLACED)
    assert str(old.replaced_by) == str(new_stop.id), old.replaced_by
    nested = trading.get_order_by_id(entry.id, GetOrderByIdRequest(nested=True))
    assert {str(leg.id) for leg in nested.legs} == {str(take_leg.id), str(new_stop.id)}, nested.legs

    # Canceling one exit cancels the group.
    trading.cancel_order_by_id(take_leg.id)
    wait_for_status(trading, take_leg.id, OrderStatus.CANCELED)
    wait_for_status(trading, new_stop.id, OrderStatus.CANCELED)
    wait_until(lambda: updates.saw("replaced", stop_leg.id) and updates.saw("canceled", take_leg.id)
               and updates.saw("canceled", new_stop.id), 3, "replace and cancels on the stream")
    updates.stop()
    assert updates.saw("pending_replace", stop_leg.id), updates.of(stop_leg.id)
    assert updates.saw("fill", entry.id), updates.of(entry.id)
    position = trading.get_open_position("SPY")
    assert price(position.qty) == 5, position.qty

    filled = claim_every_order(served, trading)
    assert filled == {"bracket-0": "5", take_leg.client_order_id: "0",
                      stop_leg.client_order_id: "0", new_stop.client_order_id: "0"}, filled
    code, report = served.shutdown()
    assert code == 0, served.summary
    assert report["orders_placed"] == 4, report
    assert report["missed_fills"] == 0, report
    assert report["false_positives"] == 0, report
    assert report["duplicate_orders"] == 0, report
    print(f"      entry {final.filled_qty} filled at {final.filled_avg_price}; take profit "
          f"{take_profit} ({take_leg.status.value}), stop {stop} "
          f"({stop_leg.status.value}) moved to {moved}; stream for the old stop: "
          f"{updates.of(stop_leg.id)}, take profit: {updates.of(take_leg.id)}, "
          f"new stop: {updates.of(new_stop.id)}")


def case_close_positions_bot(fillproof):
    """Buys SPY and QQQ, closes half the SPY position by percentage (a
    market sell of half), rests a sell limit on QQQ that holds its shares,
    then closes every position with cancel_orders: the limit is canceled,
    each symbol gets a 200 with its closing order, and the account ends
    flat. Every fill claimed; the report is clean."""
    served = Served(fillproof, "scenarios/wire/bracket-bot.yaml")
    trading = TradingClient(KEY, SECRET, paper=True, url_override=served.url)
    bought = {"SPY": 4, "QQQ": 6}
    buys = [trading.submit_order(MarketOrderRequest(
        symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        client_order_id=f"close-bot-{symbol}")) for symbol, qty in bought.items()]
    for order in buys:
        final = wait_for_fill(trading, order.id)
        assert final.status == OrderStatus.FILLED, final.status

    half = trading.close_position("SPY", ClosePositionRequest(percentage="50"))
    assert (half.symbol, half.side, half.type) == ("SPY", OrderSide.SELL, OrderType.MARKET), half
    assert price(half.qty) == 2, half.qty
    assert wait_for_fill(trading, half.id).status == OrderStatus.FILLED
    assert price(trading.get_open_position("SPY").qty) == 2

    resting = trading.submit_order(LimitOrderRequest(
        symbol="QQQ", qty=6, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
        limit_price=600, client_order_id="close-bot-exit"))
    closed = trading.close_all_positions(cancel_orders=True)
    assert sorted(c.symbol for c in closed) == ["QQQ", "SPY"], closed
    closing = {}
    for answer in closed:
        # With cancel_orders the open orders are canceled before the
        # positions are closed: the sell limit resting on QQQ (its cancel
        # taking the scenario's latency and processing) no longer holds
        # QQQ's shares when they are sold.
        assert answer.status == 200, answer
        assert isinstance(answer.body, Order), answer.body
        assert (answer.body.side, answer.body.type) == (OrderSide.SELL, OrderType.MARKET)
        closing[answer.symbol] = answer.body
    assert price(closing["SPY"].qty) == 2 and price(closing["QQQ"].qty) == 6, closing
    for order in closing.values():
        assert wait_for_fill(trading, order.id).status == OrderStatus.FILLED
    wait_for_status(trading, resting.id, OrderStatus.CANCELED)
    wait_until(lambda: not trading.get_all_positions(), 3, "flat account")

    filled = claim_every_order(served, trading)
    assert filled["close-bot-exit"] == "0" and len(filled) == 6, filled
    code, report = served.shutdown()
    assert code == 0, served.summary
    assert report["missed_fills"] == 0, report
    assert report["false_positives"] == 0, report
    assert report["duplicate_orders"] == 0, report
    print(f"      closed {half.qty} of 4 SPY by percentage, then {closing['SPY'].qty} SPY "
          f"and {closing['QQQ'].qty} QQQ with cancel_orders; the resting exit canceled")


def case_every_order_field(fillproof):
    """Every field alpaca-py's order request models carry, each sent in an
    order that sets it with values valid by Alpaca's rules: it works (200,
    and the order read back shows it) or it is refused with a 4xx naming
    the field (position_intent, options legs). The same for
    each field of ReplaceOrderRequest, against an order of a type that
    takes it, and for ClosePositionRequest by qty and by percentage. The
    table of (model, field, outcome) is printed; then every order is
    claimed as read and the report is clean."""
    served = Served(fillproof, "scenarios/wire/bracket-bot.yaml")
    trading = TradingClient(KEY, SECRET, paper=True, url_override=served.url)
    table, numbers = [], iter(range(1000))

    def next_id():
        return f"fields-{next(numbers)}"

    def row(model, field, attempt):
        """Runs `attempt`, which returns what it showed; a failure is a
        row too, so the whole table prints before the case fails."""
        try:
            table.append((model, field, attempt()))
        except Exception as error:  # the row says what broke; the case fails at the end
            table.append((model, field, f"FAIL {error!r}"))

    def read(order):
        return trading.get_order_by_id(order.id, GetOrderByIdRequest(nested=True))

    def works(request, check):
        """Sends `request`; `check(read_back)` asserts and says what it saw."""
        def attempt():
            placed = trading.submit_order(request)
            return "200, reads " + check(read(placed))
        return attempt

    def refused(request, field):
        def attempt():
            try:
                order = trading.submit_order(request)
            except APIError as error:
                assert 400 <= error.status_code < 500, error
                assert field in error.message, error.message
                return f"{error.status_code} {error.code} {error.message!r}"
            raise AssertionError(f"accepted: {order.status} {order.id}")
        return attempt

    def legs_of(order):
        return [(leg.type.value, leg.limit_price, leg.stop_price) for leg in order.legs or []]

    # A position to exit (OCO) and the plain fields, on one market buy.
    base = trading.submit_order(MarketOrderRequest(
        symbol="SPY", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        client_order_id="fields-base"))
    base = wait_for_fill(trading, base.id)
    assert base.status == OrderStatus.FILLED, base.status
    for field, shown, want in [("symbol", base.symbol, "SPY"), ("qty", price(base.qty), 10),
                               ("side", base.side, OrderSide.BUY),
                               ("type", base.type, OrderType.MARKET),
                               ("time_in_force", base.time_in_force, TimeInForce.DAY)]:
        def attempt(shown=shown, want=want):
            assert shown == want, (shown, want)
            return f"200, reads {getattr(shown, 'value', shown)}"
        row("MarketOrderRequest", field, attempt)

    def by_client_id():
        same = trading.get_order_by_client_id("fields-base")
        assert str(same.id) == str(base.id), same.id
        return "200, found by get_order_by_client_id"
    row("MarketOrderRequest", "client_order_id", by_client_id)

    def simple(order):
        assert order.order_class == OrderClass.SIMPLE and not order.legs, order
        return "order_class simple, no legs"
    row("MarketOrderRequest", "order_class=simple", works(MarketOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        order_class=OrderClass.SIMPLE, client_order_id=next_id()), simple))

    def extended(order):
        assert order.extended_hours is True and order.type == OrderType.LIMIT, order
        return "extended_hours true"
    row("LimitOrderRequest", "extended_hours", works(LimitOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        limit_price=580, extended_hours=True, client_order_id=next_id()), extended))

    def bracket_with_stop(order):
        assert order.order_class == OrderClass.BRACKET, order.order_class
        assert legs_of(order) == [("limit", "600", None), ("stop", None, "580")], legs_of(order)
        return f"order_class bracket, legs {legs_of(order)}"
    row("MarketOrderRequest", "order_class=bracket, take_profit, stop_loss(stop_price)",
        works(MarketOrderRequest(
            symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
            order_class=OrderClass.BRACKET, client_order_id=next_id(),
            take_profit=TakeProfitRequest(limit_price=600),
            stop_loss=StopLossRequest(stop_price=580)), bracket_with_stop))

    def bracket_with_stop_limit(order):
        assert order.order_class == OrderClass.BRACKET and price(order.limit_price) == 585, order
        assert legs_of(order) == [("limit", "600", None), ("stop_limit", "579.5", "580")], \
            legs_of(order)
        return f"order_class bracket, limit 585, legs {legs_of(order)}"
    row("LimitOrderRequest", "order_class=bracket, stop_loss(stop_price, limit_price)",
        works(LimitOrderRequest(
            symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
            limit_price=585, order_class=OrderClass.BRACKET, client_order_id=next_id(),
            take_profit=TakeProfitRequest(limit_price=600),
            stop_loss=StopLossRequest(stop_price=580, limit_price=579.5)),
            bracket_with_stop_limit))

    def oto(expected):
        def check(order):
            assert order.order_class == OrderClass.OTO, order.order_class
            assert legs_of(order) == expected, legs_of(order)
            return f"order_class oto, legs {legs_of(order)}"
        return check
    row("MarketOrderRequest", "order_class=oto, stop_loss", works(MarketOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        order_class=OrderClass.OTO, client_order_id=next_id(),
        stop_loss=StopLossRequest(stop_price=580)), oto([("stop", None, "580")])))
    row("MarketOrderRequest", "order_class=oto, take_profit", works(MarketOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        order_class=OrderClass.OTO, client_order_id=next_id(),
        take_profit=TakeProfitRequest(limit_price=600)), oto([("limit", "600", None)])))

    def oco(order):
        assert order.order_class == OrderClass.OCO and order.side == OrderSide.SELL, order
        assert (order.type, price(order.limit_price)) == (OrderType.LIMIT, 600), order
        assert legs_of(order) == [("stop_limit", "579.5", "580")], legs_of(order)
        return f"order_class oco, a sell limit 600, legs {legs_of(order)}"
    row("LimitOrderRequest", "order_class=oco (an exit of 2 of the 10 held)",
        works(LimitOrderRequest(
            symbol="SPY", qty=2, side=OrderSide.SELL, time_in_force=TimeInForce.GTC,
            order_class=OrderClass.OCO, client_order_id=next_id(),
            take_profit=TakeProfitRequest(limit_price=600),
            stop_loss=StopLossRequest(stop_price=580, limit_price=579.5)), oco))

    def notional(order):
        assert price(order.notional) == 500 and order.qty is None, order
        return f"notional {order.notional}, qty None (the shares $500 buy at the ask)"
    row("MarketOrderRequest", "notional", works(MarketOrderRequest(
        symbol="SPY", notional=500, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        client_order_id=next_id()), notional))
    row("MarketOrderRequest", "position_intent", refused(MarketOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        position_intent=PositionIntent.BUY_TO_OPEN, client_order_id=next_id()),
        "position_intent"))
    row("MarketOrderRequest", "legs (order_class=mleg)", refused(MarketOrderRequest(
        qty=1, time_in_force=TimeInForce.DAY, order_class=OrderClass.MLEG,
        client_order_id=next_id(), legs=[
            OptionLegRequest(symbol="SPY261218C00600000", ratio_qty=1, side=OrderSide.BUY),
            OptionLegRequest(symbol="SPY261218P00580000", ratio_qty=1, side=OrderSide.BUY)]),
        "legs"))

    def limit(order):
        assert (order.type, price(order.limit_price), order.status) == \
            (OrderType.LIMIT, 580, OrderStatus.NEW), order
        return "limit_price 580, new"
    row("LimitOrderRequest", "limit_price", works(LimitOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        limit_price=580, client_order_id=next_id()), limit))

    def stop(order):
        assert (order.type, price(order.stop_price), order.status) == \
            (OrderType.STOP, 600, OrderStatus.NEW), order
        assert order.limit_price is None, order.limit_price
        return "type stop, stop_price 600, new"
    row("StopOrderRequest", "stop_price", works(StopOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        stop_price=600, client_order_id=next_id()), stop))

    def stop_limit(order):
        assert (order.type, price(order.stop_price), price(order.limit_price)) == \
            (OrderType.STOP_LIMIT, 600, 601), order
        return "type stop_limit, stop_price 600, limit_price 601"
    row("StopLimitOrderRequest", "stop_price, limit_price", works(StopLimitOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        stop_price=600, limit_price=601, client_order_id=next_id()), stop_limit))

    def trailing(field, trail, stop_at):
        def check(order):
            assert order.type == OrderType.TRAILING_STOP, order.type
            assert price(getattr(order, field)) == trail, order
            assert order.hwm is not None and price(order.hwm) == Decimal("590.10"), order.hwm
            assert price(order.stop_price) == stop_at, order.stop_price
            return (f"{field} {getattr(order, field)}, hwm {order.hwm}, "
                    f"stop_price {order.stop_price}")
        return check
    row("TrailingStopOrderRequest", "trail_price", works(TrailingStopOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        trail_price=5, client_order_id=next_id()),
        trailing("trail_price", 5, Decimal("595.10"))))
    row("TrailingStopOrderRequest", "trail_percent", works(TrailingStopOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        trail_percent=1, client_order_id=next_id()),
        trailing("trail_percent", 1, Decimal("596.00"))))

    # ReplaceOrderRequest: each field against an order that takes it.
    replaced = []

    def replace(request, change, check):
        def attempt():
            old = trading.submit_order(request)
            new = trading.replace_order_by_id(old.id, change)
            assert str(new.replaces) == str(old.id), new.replaces
            replaced.append((old, new))
            return "200, the new order " + check(new)
        return attempt

    def limit_buy(**fields):
        return LimitOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, limit_price=580,
                                 client_order_id=next_id(),
                                 **{"time_in_force": TimeInForce.DAY, **fields})

    def shows(what, got, want):
        assert got == want, (what, got, want)
        return f"{what} {getattr(got, 'value', got)}"

    row("ReplaceOrderRequest", "qty (a limit)", replace(
        limit_buy(), ReplaceOrderRequest(qty=2), lambda o: shows("qty", price(o.qty), 2)))
    row("ReplaceOrderRequest", "time_in_force (a limit)", replace(
        limit_buy(), ReplaceOrderRequest(time_in_force=TimeInForce.GTC),
        lambda o: shows("time_in_force", o.time_in_force, TimeInForce.GTC)))
    row("ReplaceOrderRequest", "limit_price (a limit)", replace(
        limit_buy(), ReplaceOrderRequest(limit_price=581),
        lambda o: shows("limit_price", price(o.limit_price), 581)))
    row("ReplaceOrderRequest", "stop_price (a stop)", replace(
        StopOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
                         stop_price=600, client_order_id=next_id()),
        ReplaceOrderRequest(stop_price=601),
        lambda o: shows("stop_price", price(o.stop_price), 601)))
    row("ReplaceOrderRequest", "trail (a trailing stop by price)", replace(
        TrailingStopOrderRequest(symbol="SPY", qty=1, side=OrderSide.BUY,
                                 time_in_force=TimeInForce.DAY, trail_price=5,
                                 client_order_id=next_id()),
        ReplaceOrderRequest(trail=6),
        lambda o: shows("trail_price", price(o.trail_price), 6)
        + ", " + shows("stop_price", price(o.stop_price), Decimal("596.10"))))
    row("ReplaceOrderRequest", "client_order_id, with limit_price (a limit)", replace(
        limit_buy(), ReplaceOrderRequest(limit_price=582, client_order_id="fields-renamed"),
        lambda o: shows("client_order_id", o.client_order_id, "fields-renamed")
        + ", " + shows("limit_price", price(o.limit_price), 582)))

    def rename_only():
        old = trading.submit_order(limit_buy())
        try:
            new = trading.replace_order_by_id(old.id, ReplaceOrderRequest(
                client_order_id="fields-renamed-only"))
        except APIError as error:
            # Alpaca names no order parameter in client_order_id: a
            # replace that changes none is its 403.
            assert (error.status_code, error.message) == \
                (403, "order parameters are not changed"), error
            return f"{error.status_code} {error.code} {error.message!r}"
        replaced.append((old, new))
        return "200, the new order " + shows("client_order_id", new.client_order_id,
                                             "fields-renamed-only")
    row("ReplaceOrderRequest", "client_order_id alone (a limit)", rename_only)

    def all_replaced():
        for old, new in replaced:
            read_old = trading.get_order_by_id(old.id)
            if read_old.status != OrderStatus.REPLACED:
                return False
            assert str(read_old.replaced_by) == str(new.id), read_old
        return True
    def old_orders_replaced():
        wait_until(all_replaced, 3, "every replaced order to read replaced")
        return f"each of the {len(replaced)} old orders reads replaced, replaced_by the new one"
    row("ReplaceOrderRequest", "(the old orders)", old_orders_replaced)

    # ClosePositionRequest, on a QQQ position of 10.
    qqq = trading.submit_order(MarketOrderRequest(
        symbol="QQQ", qty=10, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        client_order_id=next_id()))
    assert wait_for_fill(trading, qqq.id).status == OrderStatus.FILLED

    def close(options, sells, left):
        def attempt():
            order = trading.close_position("QQQ", options)
            assert (order.side, order.type, price(order.qty)) == \
                (OrderSide.SELL, OrderType.MARKET, sells), order
            assert wait_for_fill(trading, order.id).status == OrderStatus.FILLED
            held = price(trading.get_open_position("QQQ").qty)
            assert held == left, held
            return f"200, a market sell of {order.qty}; {held} left"
        return attempt
    row("ClosePositionRequest", "qty=2 (of 10)", close(ClosePositionRequest(qty="2"), 2, 8))
    row("ClosePositionRequest", "percentage=50 (of 8)",
        close(ClosePositionRequest(percentage="50"), 4, 4))

    width = max(len(model) for model, _, _ in table)
    fwidth = max(len(field) for _, field, _ in table)
    for model, field, outcome in table:
        print(f"      {model:<{width}}  {field:<{fwidth}}  {outcome}")
    failures = [r for r in table if r[2].startswith("FAIL")]
    assert not failures, failures

    filled = claim_every_order(served, trading)
    code, report = served.shutdown()
    assert code == 0, served.summary
    assert report["missed_fills"] == 0, report
    assert report["false_positives"] == 0, report
    assert report["duplicate_orders"] == 0, report
    print(f"      {len(filled)} orders claimed as read; report clean")


def restarted_bot(fillproof, recovery):
    """Runs restart_bot.py's first process until its order is placed,
    kills it, tells serve the bot restarted, runs the `recovery` process to
    its end, posts its belief, and returns serve's exit code and report."""
    served = Served(fillproof, "e2e/alpaca_py/restart-bot.yaml")
    bot = [sys.executable, str(Path(__file__).with_name("restart_bot.py")), served.url]
    first = subprocess.Popen(bot + ["first"], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "placed"
    finally:
        first.kill()
        first.wait(timeout=10)
    answer = requests.post(f"{served.url}/_fillproof/restart", timeout=10)
    assert answer.json() == {"restarts": 1}, answer.text
    done = subprocess.run(bot + [recovery], capture_output=True, text=True, timeout=60, check=True)
    belief = [line for line in done.stdout.splitlines() if line.startswith("belief ")]
    assert belief, done.stdout + done.stderr
    served.claim(json.loads(belief[-1][len("belief "):]))
    return served.shutdown() + (served,)


def case_restart_bot(fillproof):
    """A bot killed while its order works, restarted: one that finds its
    order by client_order_id (as alpaca-py allows) leaves nothing orphaned
    and sends nothing twice; one that kept its ids in memory and sends the
    order again under a new id is caught: a duplicate across the restart,
    and the first order's fill missed."""
    code, report, served = restarted_bot(fillproof, "recover")
    assert code == 0, served.summary
    assert report["restarts"] == 1, report
    assert report["orders_placed"] == 1, report
    assert report["orders_orphaned"] == 0, report
    assert report["duplicates_across_restarts"] == 0, report
    assert report["missed_fills"] == 0, report
    code, report, served = restarted_bot(fillproof, "naive")
    assert code == 1, served.summary
    assert report["orders_placed"] == 2, report
    assert report["duplicates_across_restarts"] == 1, report
    assert report["missed_fills"] == 1, report


def main():
    fillproof = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/release/fillproof")
    cases = [case_documented_bot, case_504_retry_duplicates_without_client_id,
             case_504_retry_refused_with_client_id, case_market_data_bot,
             case_bracket_bot, case_close_positions_bot, case_every_order_field,
             case_restart_bot]
    failed = 0
    for case in cases:
        started = time.monotonic()
        try:
            case(fillproof)
            print(f"ok    {case.__name__} ({time.monotonic() - started:.1f} s)")
        except Exception as error:  # a case's failure is reported, then the rest run
            failed += 1
            print(f"FAIL  {case.__name__}: {error!r}")
        for served in Served.running:
            served.process.kill()
            served.process.wait()
        Served.running.clear()
    print(f"alpaca-py end to end: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
