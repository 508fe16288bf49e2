"""Every field alpaca-py's order request models carry, against
`fillproof serve`: each sent in an order that sets it, with values valid
by Alpaca's rules, works (and reads back) or is refused with a 4xx that
names it."""

from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import (OrderClass, OrderSide, OrderStatus, OrderType, PositionIntent,
                                  TimeInForce)
from alpaca.trading.requests import (ClosePositionRequest, GetOrderByIdRequest,
                                     LimitOrderRequest, MarketOrderRequest, OptionLegRequest,
                                     ReplaceOrderRequest, StopLimitOrderRequest, StopLossRequest,
                                     StopOrderRequest, TakeProfitRequest,
                                     TrailingStopOrderRequest)

from support import WIRE, claim_every_order, price, trading_client, wait_for_fill, wait_until


@pytest.mark.fillproof(WIRE / "bracket-bot.yaml")
def test_every_order_field(fillproof_serve):
    """Every field alpaca-py's order request models carry, each sent in an
    order that sets it with values valid by Alpaca's rules: it works (200,
    and the order read back shows it) or it is refused with a 4xx naming
    the field (position_intent, options legs). The same for
    each field of ReplaceOrderRequest, against an order of a type that
    takes it, and for ClosePositionRequest by qty and by percentage. The
    table of (model, field, outcome) is printed; then every order is
    claimed as read and the report is clean."""
    served = fillproof_serve
    trading = trading_client(served)
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
    printed = "\n".join(f"{model:<{width}}  {field:<{fwidth}}  {outcome}"
                         for model, field, outcome in table)
    print(printed)
    failures = [r for r in table if r[2].startswith("FAIL")]
    assert not failures, printed

    filled = claim_every_order(served, trading)
    report = served.shutdown()
    assert report.exit_code == 0, report.summary
    assert report["missed_fills"] == 0, report
    assert report["false_positives"] == 0, report
    assert report["duplicate_orders"] == 0, report
    print(f"{len(filled)} orders claimed as read; report clean")
