"""alpaca-py, unmodified, against `fillproof serve`, on loopback.

Each test gets `fillproof serve SCENARIO --port 0` from the `fillproof`
pytest plugin (`pip install ./python`), points a short bot written the
way alpaca-py's documentation shows at it by changing only the base URL,
posts the bot's belief to /_fillproof/claims, shuts the server down and
checks the report it wrote against what the test is about.

    pytest e2e/alpaca_py --fillproof-bin target/release/fillproof
"""

import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.data.live import StockDataStream
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.enums import (OrderClass, OrderSide, OrderStatus, OrderType,
                                  QueryOrderStatus, TimeInForce)
from alpaca.trading.models import Order
from alpaca.trading.requests import (ClosePositionRequest, GetOrderByIdRequest, GetOrdersRequest,
                                     LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest,
                                     StopLossRequest, TakeProfitRequest)
from alpaca.trading.stream import TradingStream

from support import (WIRE, TradeUpdates, cents, claim_every_order, price, stock_data_client,
                     trading_client, wait_for_fill, wait_for_status, wait_until)


@pytest.mark.fillproof(WIRE / "calm-session.yaml")
def test_documented_bot(fillproof_serve):
    """Market orders with client ids, polled to their fills, with the
    stream listening; positions, account, clock and order lists read. No
    missed fill, no invented one, no duplicate, and the stream saw every
    fill."""
    served = fillproof_serve
    client = trading_client(served)
    events = []

    async def on_update(update):
        events.append((update.event, str(update.order.client_order_id)))

    stream = TradingStream(served.key, served.secret, paper=True, url_override=served.stream_url)
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
    with pytest.raises(APIError) as refused:
        client.get_open_position("QQQ")  # a flat symbol has no position
    assert refused.value.status_code == 404 and refused.value.code == 40410000, refused.value
    client.cancel_orders()
    time.sleep(0.3)
    stream.stop()

    served.claim(filled)
    report = served.shutdown()
    assert report.exit_code == 0, report.summary
    assert report["missed_fills"] == 0, report
    assert report["false_positives"] == 0, report
    assert report["duplicate_orders"] == 0, report
    assert report["detection_rate"] == 1.0, report
    fills = {cid for event, cid in events if event == "fill"}
    assert fills == set(ids), f"stream fills {fills}, events {events}"


@pytest.mark.fillproof(WIRE / "submit-504.yaml")
def test_504_retry_duplicates_without_client_id(fillproof_serve):
    """The first submit is applied and answered 504; alpaca-py retries it
    on its own 3 s later. With no client_order_id the broker cannot tell
    the retry from a new order: the bot sees one success, the broker holds
    two orders, and the report says so (and `serve` exits 1)."""
    served = fillproof_serve
    client = trading_client(served)
    order = client.submit_order(MarketOrderRequest(
        symbol="SPY", qty=5, side=OrderSide.BUY, time_in_force=TimeInForce.DAY))
    final = wait_for_fill(client, order.id)
    served.claim({final.client_order_id: str(final.filled_qty)})
    # The findings are what this test is about: it takes the report itself.
    report = served.shutdown(check=False)
    assert report.exit_code == 1, report.summary
    assert report["orders_placed"] == 2, report
    assert report["duplicate_orders"] == 1, report
    duplicate = [o for o in report["orders"] if o["duplicate_of"]]
    assert duplicate and duplicate[0]["id"] == str(order.id), report
    assert report["missed_fills"] == 1, report
    findings = "\n".join(report.findings())
    assert "expect `duplicate_orders == 0` fell short: actual 1" in findings, findings
    assert "missed fill" in findings and "no claim names it" in findings, findings


@pytest.mark.fillproof(WIRE / "submit-504.yaml")
def test_504_retry_refused_with_client_id(fillproof_serve):
    """The same 504 with a client_order_id: alpaca-py's retry is refused
    (422, code 40010001) although the order exists; a bot that looks it up
    by its id finds it, and nothing is duplicated."""
    served = fillproof_serve
    client = trading_client(served)
    with pytest.raises(APIError) as refused:
        # the retry of an applied submit must be refused
        client.submit_order(MarketOrderRequest(
            symbol="SPY", qty=5, side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY, client_order_id="bot-0"))
    assert refused.value.status_code == 422 and refused.value.code == 40010001, refused.value
    order = client.get_order_by_client_id("bot-0")
    final = wait_for_fill(client, order.id)
    served.claim({"bot-0": str(final.filled_qty)})
    report = served.shutdown()
    assert report.exit_code == 0, report.summary
    assert report["orders_placed"] == 1, report
    assert report["duplicate_orders"] == 0, report
    assert report["missed_fills"] == 0, report


@pytest.mark.fillproof(WIRE / "market-data-bot.yaml")
def test_market_data_bot(fillproof_serve):
    """A bot that reads the market before it trades: the data stream's
    trades and quotes, minute bars, the latest quote; a limit buy of about
    $10,000 at the ask it read, and a second limit buy at the ask of a
    quote the stream brings. Both fill; the report is clean; each fill is
    at or below its limit, at exactly the ask the stream showed for the
    step the fill happened in (the broker buys at the touch), and the
    REST quote, the bars, the trades and the quotes agree with each other.
    The market moved while the bot watched it, so a fill priced at any
    other step's quote, at the bid, or off the quotes would not match."""
    served = fillproof_serve
    trading = trading_client(served)
    data = stock_data_client(served)
    stream = StockDataStream(served.key, served.secret, url_override=served.data_stream_url)
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
            except Exception as error:  # reported by the test, not lost in the stream's log
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
    report = served.shutdown()
    assert report.exit_code == 0, report.summary
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
        print(f"{name}: limit {final.limit_price}, filled {final.filled_qty} at "
              f"{final.filled_avg_price}, ask {touch.ask_price} bid {touch.bid_price} "
              f"at {touch.timestamp:%H:%M:%S.%f}, fill at {final.filled_at:%H:%M:%S.%f}")
    print(report.summary)


@pytest.mark.fillproof(WIRE / "bracket-bot.yaml")
def test_bracket_bot(fillproof_serve):
    """A bracket placed off the latest quote, its stop moved up by a
    replace, its take profit canceled. The entry fills; both exits rest on
    the still market; the replace answers a new stop leg that `replaces`
    the old one, which goes pending_replace and then replaced and leaves
    the group, the new leg taking its place; canceling the take profit
    cancels the group. The stream carries each step, and the report is
    clean: the entry's fill claimed, the legs claimed at nothing."""
    served = fillproof_serve
    trading = trading_client(served)
    data = stock_data_client(served)
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
    report = served.shutdown()
    assert report.exit_code == 0, report.summary
    assert report["orders_placed"] == 4, report
    assert report["missed_fills"] == 0, report
    assert report["false_positives"] == 0, report
    assert report["duplicate_orders"] == 0, report
    print(f"entry {final.filled_qty} filled at {final.filled_avg_price}; take profit "
          f"{take_profit} ({take_leg.status.value}), stop {stop} "
          f"({stop_leg.status.value}) moved to {moved}; stream for the old stop: "
          f"{updates.of(stop_leg.id)}, take profit: {updates.of(take_leg.id)}, "
          f"new stop: {updates.of(new_stop.id)}")


@pytest.mark.fillproof(WIRE / "bracket-bot.yaml")
def test_close_positions_bot(fillproof_serve):
    """Buys SPY and QQQ, closes half the SPY position by percentage (a
    market sell of half), rests a sell limit on QQQ that holds its shares,
    then closes every position with cancel_orders: the limit is canceled,
    each symbol gets a 200 with its closing order, and the account ends
    flat. Every fill claimed; the report is clean."""
    served = fillproof_serve
    trading = trading_client(served)
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
    report = served.shutdown()
    assert report.exit_code == 0, report.summary
    assert report["missed_fills"] == 0, report
    assert report["false_positives"] == 0, report
    assert report["duplicate_orders"] == 0, report
