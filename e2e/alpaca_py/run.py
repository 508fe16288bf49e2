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
from alpaca.trading.enums import (OrderClass, OrderSide, OrderStatus, OrderType,
                                  QueryOrderStatus, TimeInForce)
from alpaca.trading.models import Order
from alpaca.trading.requests import (ClosePositionRequest, GetOrderByIdRequest, GetOrdersRequest,
                                     LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest,
                                     StopLossRequest, TakeProfitRequest)
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
        # SERVE BUG (reported, not worked around): with cancel_orders the
        # open orders are to be canceled before the positions are closed,
        # but serve closes at once, while the sell limit it is canceling
        # (its cancel's latency and broker.cancel.processing still to run)
        # holds QQQ's shares: QQQ is answered 403 "insufficient qty
        # available for order (requested: 6, available: 0)", the limit
        # ends canceled all the same, and the position stays open.
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


def main():
    fillproof = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/release/fillproof")
    cases = [case_documented_bot, case_504_retry_duplicates_without_client_id,
             case_504_retry_refused_with_client_id, case_market_data_bot,
             case_bracket_bot, case_close_positions_bot]
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
