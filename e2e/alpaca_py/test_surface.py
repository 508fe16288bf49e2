"""Every public method of alpaca-py's TradingClient and of each of its
historical data clients, driven against `fillproof serve` (surface.yaml,
a fresh session per method).

The methods are found by introspection: a client's public methods are
those it defines (or inherits from anything but alpaca-py's generic
RESTClient, whose get/post/put/patch/delete address no route of their
own), and the clients are every RESTClient under alpaca.data.historical.
`test_every_public_method_is_covered` fails when alpaca-py gains a method
or a client this file does not drive.

Each method is called with realistic arguments and must either work as
Alpaca's does (the model alpaca-py builds from Alpaca's answer, with
content that makes sense for the request) or be refused with the error
Alpaca gives for that case (status and code). An answer Alpaca never
gives for a route it has, serve's `endpoint not found` 404 or a 405, fails
whatever else the check allows.
"""

import importlib
import inspect
import pkgutil
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alpaca.common.exceptions import APIError
from alpaca.common.rest import RESTClient
from alpaca.data import historical
from alpaca.data.historical import (CryptoHistoricalDataClient, NewsClient,
                                    OptionHistoricalDataClient, ScreenerClient,
                                    StockHistoricalDataClient)
from alpaca.data.historical.corporate_actions import CorporateActionsClient
from alpaca.data.models import (Bar, BarSet, NewsSet, Orderbook, OptionsSnapshot, Quote, QuoteSet,
                                Snapshot, Trade, TradeSet)
from alpaca.data.models.corporate_actions import CorporateActionsSet
from alpaca.data.models.screener import MostActives, Movers
from alpaca.data.requests import (CorporateActionsRequest, CryptoBarsRequest,
                                  CryptoLatestBarRequest, CryptoLatestOrderbookRequest,
                                  CryptoLatestQuoteRequest, CryptoLatestTradeRequest,
                                  CryptoQuoteRequest, CryptoSnapshotRequest, CryptoTradesRequest,
                                  MarketMoversRequest, MostActivesRequest, NewsRequest,
                                  OptionBarsRequest, OptionChainRequest, OptionLatestQuoteRequest,
                                  OptionLatestTradeRequest, OptionSnapshotRequest,
                                  OptionTradesRequest, StockBarsRequest, StockLatestBarRequest,
                                  StockLatestQuoteRequest, StockLatestTradeRequest,
                                  StockQuotesRequest, StockSnapshotRequest, StockTradesRequest)
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import (AssetClass, AssetStatus, CorporateActionType, OrderSide,
                                  OrderStatus, OrderType, QueryOrderStatus, TimeInForce)
from alpaca.trading.models import (AccountConfiguration, Asset, Calendar, ClosePositionResponse,
                                   Clock,
                                   Order, PortfolioHistory, Position,
                                   TradeAccount, Watchlist)
from alpaca.trading.requests import (CancelOrderResponse, ClosePositionRequest,
                                     CreateWatchlistRequest, GetAssetsRequest, GetCalendarRequest,
                                     GetCorporateAnnouncementsRequest, GetOptionContractsRequest,
                                     GetOrdersRequest, GetPortfolioHistoryRequest,
                                     LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest,
                                     UpdateWatchlistRequest)

from support import price, trading_client, wait_for_fill, wait_for_status, wait_until

SURFACE = Path(__file__).with_name("surface.yaml")
pytestmark = pytest.mark.fillproof(SURFACE)

#: An option contract in Alpaca's OCC form: SPY, 18 Dec 2026, a call at 600.
CONTRACT = "SPY261218C00600000"
CRYPTO = "BTC/USD"

COVERED = {}


def covers(client, method):
    """Registers the decorated function as the check of `client.method`."""
    def register(check):
        COVERED[(client.__name__, method)] = check
        return check
    return register


def public_methods(client):
    """The public methods of `client` that are alpaca-py's API, not the
    generic REST helpers of RESTClient."""
    names = set()
    for name in dir(client):
        if name.startswith("_") or not callable(getattr(client, name)):
            continue
        owner = next(c for c in client.__mro__ if name in vars(c))
        if owner not in (RESTClient, object):
            names.add(name)
    return names


def data_clients():
    """Every REST client defined in alpaca.data.historical's modules."""
    found = set()
    for module in pkgutil.iter_modules(historical.__path__, historical.__name__ + "."):
        for _, member in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if issubclass(member, RESTClient) and member is not RESTClient \
                    and member.__module__.startswith(historical.__name__):
                found.add(member)
    return found


CLIENTS = [TradingClient, StockHistoricalDataClient, CryptoHistoricalDataClient,
           OptionHistoricalDataClient, NewsClient, ScreenerClient, CorporateActionsClient]


# -- how an answer is judged -----------------------------------------------

def missing_route(error):
    """Says so when `error` is an answer Alpaca never gives for a route it
    has: a 405, or serve's 404 for a route it does not serve."""
    status = error.status_code
    body = error.response.text if error.response is not None else str(error)
    if status == 405 or (status == 404 and "endpoint not found" in body):
        request = error.request
        return (f"route missing: {request.method} {request.url} answered {status} {body}"
                if request is not None else f"route missing: {status} {body}")
    return None


def refused_as_alpaca(error, status, code, message=None):
    """Asserts `error` is Alpaca's refusal: `status`, `code` and (when
    given) a message containing `message`."""
    assert not missing_route(error), missing_route(error)
    request = error.request
    sent = f"{request.method} {request.url}" if request is not None else "?"
    assert error.status_code == status, (
        f"{sent}: answered {error.status_code} {error}, Alpaca answers {status} {code}")
    assert error.code == code, f"{sent}: code {error.code}, Alpaca's is {code}: {error}"
    if message is not None:
        assert message in error.message, f"{sent}: message {error.message!r}, Alpaca's has {message!r}"


def call(method, *args, **kwargs):
    """Calls `method`; an APIError that is a missing route fails at once,
    naming the request and the answer."""
    try:
        return method(*args, **kwargs)
    except APIError as error:
        missing = missing_route(error)
        if not missing:
            raise
    pytest.fail(missing, pytrace=False)


def now():
    return datetime.now(timezone.utc)


def trading(served):
    return trading_client(served)


def data(served, client):
    return client(served.key, served.secret, url_override=served.data_url)


def buy(client, symbol="SPY", qty=1, cid=None, **fields):
    """A market buy, filled."""
    order = client.submit_order(MarketOrderRequest(
        symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        client_order_id=cid or f"surface-{uuid.uuid4().hex[:12]}", **fields))
    final = wait_for_fill(client, order.id)
    assert final.status == OrderStatus.FILLED, final
    return final


def resting_limit(client, symbol="QQQ", limit=400):
    """A buy limit far under the price: it rests."""
    return client.submit_order(LimitOrderRequest(
        symbol=symbol, qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.GTC,
        limit_price=limit, client_order_id=f"surface-{uuid.uuid4().hex[:12]}"))


def market_moved(seconds=2.5):
    """Lets the session's market print a few steps before reading it."""
    time.sleep(seconds)


# -- TradingClient: orders ---------------------------------------------------

@covers(TradingClient, "submit_order")
def check_submit_order(served):
    client = trading(served)
    order = call(client.submit_order, MarketOrderRequest(
        symbol="SPY", qty=2, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
        client_order_id="surface-submit"))
    assert isinstance(order, Order), order
    assert (order.symbol, price(order.qty), order.side, order.type) == \
        ("SPY", 2, OrderSide.BUY, OrderType.MARKET), order
    assert order.client_order_id == "surface-submit"
    assert order.status in (OrderStatus.ACCEPTED, OrderStatus.PENDING_NEW, OrderStatus.NEW,
                            OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED), order.status
    final = wait_for_fill(client, order.id)
    assert final.status == OrderStatus.FILLED and price(final.filled_qty) == 2, final
    assert price(final.filled_avg_price) > 0, final


@covers(TradingClient, "get_orders")
def check_get_orders(served):
    client = trading(served)
    filled = buy(client)
    resting = resting_limit(client)
    open_ = call(client.get_orders, GetOrdersRequest(status=QueryOrderStatus.OPEN))
    closed = call(client.get_orders, GetOrdersRequest(status=QueryOrderStatus.CLOSED))
    every = call(client.get_orders, GetOrdersRequest(status=QueryOrderStatus.ALL, limit=50))
    assert all(isinstance(o, Order) for o in open_ + closed + every)
    assert [str(o.id) for o in open_] == [str(resting.id)], open_
    assert [str(o.id) for o in closed] == [str(filled.id)], closed
    assert {str(o.id) for o in every} == {str(resting.id), str(filled.id)}, every
    qqq = call(client.get_orders, GetOrdersRequest(status=QueryOrderStatus.ALL, symbols=["QQQ"]))
    assert [o.symbol for o in qqq] == ["QQQ"], qqq


@covers(TradingClient, "get_order_by_id")
def check_get_order_by_id(served):
    client = trading(served)
    placed = buy(client, cid="surface-by-id")
    read = call(client.get_order_by_id, placed.id)
    assert isinstance(read, Order) and str(read.id) == str(placed.id), read
    assert read.client_order_id == "surface-by-id" and read.status == OrderStatus.FILLED, read
    with pytest.raises(APIError) as refused:
        call(client.get_order_by_id, uuid.uuid4())
    refused_as_alpaca(refused.value, 404, 40410000)


@covers(TradingClient, "get_order_by_client_id")
def check_get_order_by_client_id(served):
    client = trading(served)
    placed = buy(client, cid="surface-by-client-id")
    read = call(client.get_order_by_client_id, "surface-by-client-id")
    assert isinstance(read, Order) and str(read.id) == str(placed.id), read
    with pytest.raises(APIError) as refused:
        call(client.get_order_by_client_id, "surface-never-sent")
    refused_as_alpaca(refused.value, 404, 40410000)


@covers(TradingClient, "replace_order_by_id")
def check_replace_order_by_id(served):
    client = trading(served)
    old = resting_limit(client)
    new = call(client.replace_order_by_id, old.id, ReplaceOrderRequest(limit_price=401))
    assert isinstance(new, Order), new
    assert str(new.replaces) == str(old.id) and str(new.id) != str(old.id), new
    assert price(new.limit_price) == 401, new.limit_price
    replaced = wait_for_status(client, old.id, OrderStatus.REPLACED)
    assert str(replaced.replaced_by) == str(new.id), replaced


@covers(TradingClient, "cancel_orders")
def check_cancel_orders(served):
    client = trading(served)
    resting = [resting_limit(client), resting_limit(client, limit=399)]
    answers = call(client.cancel_orders)
    assert all(isinstance(a, CancelOrderResponse) for a in answers), answers
    assert {str(a.id) for a in answers} == {str(o.id) for o in resting}, answers
    assert all(a.status == 200 for a in answers), answers
    for order in resting:
        wait_for_status(client, order.id, OrderStatus.CANCELED)


@covers(TradingClient, "cancel_order_by_id")
def check_cancel_order_by_id(served):
    client = trading(served)
    resting = resting_limit(client)
    assert call(client.cancel_order_by_id, resting.id) is None
    wait_for_status(client, resting.id, OrderStatus.CANCELED)
    filled = buy(client)
    with pytest.raises(APIError) as refused:
        call(client.cancel_order_by_id, filled.id)
    refused_as_alpaca(refused.value, 422, 42210000)


# -- TradingClient: positions -----------------------------------------------

@covers(TradingClient, "get_all_positions")
def check_get_all_positions(served):
    client = trading(served)
    assert call(client.get_all_positions) == []
    buy(client, qty=3)
    positions = call(client.get_all_positions)
    assert all(isinstance(p, Position) for p in positions), positions
    assert [(p.symbol, price(p.qty)) for p in positions] == [("SPY", 3)], positions


@covers(TradingClient, "get_open_position")
def check_get_open_position(served):
    client = trading(served)
    filled = buy(client, qty=3)
    position = call(client.get_open_position, "SPY")
    assert isinstance(position, Position), position
    assert (position.symbol, price(position.qty)) == ("SPY", 3), position
    assert price(position.avg_entry_price) == price(filled.filled_avg_price), position
    with pytest.raises(APIError) as refused:
        call(client.get_open_position, "QQQ")
    refused_as_alpaca(refused.value, 404, 40410000, "position does not exist")


@covers(TradingClient, "close_all_positions")
def check_close_all_positions(served):
    client = trading(served)
    buy(client, "SPY", 2)
    buy(client, "QQQ", 3)
    closed = call(client.close_all_positions, cancel_orders=True)
    assert all(isinstance(c, ClosePositionResponse) for c in closed), closed
    assert sorted(c.symbol for c in closed) == ["QQQ", "SPY"], closed
    by_symbol = {c.symbol: c for c in closed}
    for symbol, qty in (("SPY", 2), ("QQQ", 3)):
        answer = by_symbol[symbol]
        assert answer.status == 200 and isinstance(answer.body, Order), answer
        assert (answer.body.side, price(answer.body.qty)) == (OrderSide.SELL, qty), answer.body
    wait_until(lambda: not client.get_all_positions(), 3, "a flat account")


@covers(TradingClient, "close_position")
def check_close_position(served):
    client = trading(served)
    buy(client, "SPY", 4)
    order = call(client.close_position, "SPY", ClosePositionRequest(qty="1"))
    assert isinstance(order, Order), order
    assert (order.symbol, order.side, order.type, price(order.qty)) == \
        ("SPY", OrderSide.SELL, OrderType.MARKET, 1), order
    wait_for_fill(client, order.id)
    rest = call(client.close_position, "SPY")
    assert price(rest.qty) == 3, rest
    with pytest.raises(APIError) as refused:
        call(client.close_position, "QQQ")
    refused_as_alpaca(refused.value, 404, 40410000, "position does not exist")


@covers(TradingClient, "exercise_options_position")
def check_exercise_options_position(served):
    # The account is one without options (its options_approved_level is
    # 0, as get_account shows): Alpaca refuses the options endpoints to
    # such an account with its forbidden 403.
    client = trading(served)
    assert call(client.get_account).options_approved_level == 0
    with pytest.raises(APIError) as refused:
        call(client.exercise_options_position, CONTRACT)
    refused_as_alpaca(refused.value, 403, 40310000, "options_approved_level 0")


# -- TradingClient: account --------------------------------------------------

@covers(TradingClient, "get_account")
def check_get_account(served):
    client = trading(served)
    account = call(client.get_account)
    assert isinstance(account, TradeAccount), account
    assert account.status == "ACTIVE", account.status
    assert float(account.cash) > 0 and float(account.buying_power) > 0, account
    assert float(account.equity) == pytest.approx(float(account.cash)), account
    buy(client, qty=2)
    after = call(client.get_account)
    assert float(after.cash) < float(account.cash), (account.cash, after.cash)


@covers(TradingClient, "get_account_configurations")
def check_get_account_configurations(served):
    config = call(trading(served).get_account_configurations)
    assert isinstance(config, AccountConfiguration), config
    assert config.max_margin_multiplier in ("1", "2", "4"), config.max_margin_multiplier


@covers(TradingClient, "set_account_configurations")
def check_set_account_configurations(served):
    client = trading(served)
    config = call(client.get_account_configurations)
    config.no_shorting = not config.no_shorting
    changed = call(client.set_account_configurations, config)
    assert isinstance(changed, AccountConfiguration), changed
    assert changed.no_shorting == config.no_shorting, changed
    assert call(client.get_account_configurations).no_shorting == config.no_shorting


@covers(TradingClient, "get_portfolio_history")
def check_get_portfolio_history(served):
    client = trading(served)
    buy(client, qty=2)
    history = call(client.get_portfolio_history,
                   GetPortfolioHistoryRequest(period="1D", timeframe="5Min"))
    assert isinstance(history, PortfolioHistory), history
    assert history.timeframe == "5Min", history.timeframe
    assert history.timestamp, "no data point"
    assert len(history.timestamp) == len(history.equity) == len(history.profit_loss) \
        == len(history.profit_loss_pct), history
    assert history.timestamp == sorted(history.timestamp), history.timestamp
    assert history.timestamp[-1] <= now().timestamp(), history.timestamp


# -- TradingClient: assets, clock, calendar -----------------------------------

@covers(TradingClient, "get_all_assets")
def check_get_all_assets(served):
    client = trading(served)
    equities = call(client.get_all_assets, GetAssetsRequest(
        status=AssetStatus.ACTIVE, asset_class=AssetClass.US_EQUITY))
    assert all(isinstance(a, Asset) for a in equities), equities
    assert {"SPY", "QQQ"} <= {a.symbol for a in equities}, equities
    assert all(a.asset_class == AssetClass.US_EQUITY and a.status == AssetStatus.ACTIVE
               for a in equities), [(a.symbol, a.asset_class, a.status) for a in equities]
    crypto = call(client.get_all_assets, GetAssetsRequest(asset_class=AssetClass.CRYPTO))
    assert all(a.asset_class == AssetClass.CRYPTO for a in crypto), \
        [(a.symbol, a.asset_class) for a in crypto]


@covers(TradingClient, "get_asset")
def check_get_asset(served):
    client = trading(served)
    spy = call(client.get_asset, "SPY")
    assert isinstance(spy, Asset) and spy.symbol == "SPY" and spy.tradable, spy
    assert call(client.get_asset, spy.id).symbol == "SPY"
    btc = call(client.get_asset, CRYPTO)
    assert btc.symbol == CRYPTO and btc.asset_class == AssetClass.CRYPTO, btc
    with pytest.raises(APIError) as refused:
        call(client.get_asset, "ZZZZQ")
    refused_as_alpaca(refused.value, 404, 40410000)


@covers(TradingClient, "get_clock")
def check_get_clock(served):
    clock = call(trading(served).get_clock)
    assert isinstance(clock, Clock), clock
    assert abs((clock.timestamp - now()).total_seconds()) < 60, clock.timestamp
    assert clock.is_open, clock
    assert clock.timestamp < clock.next_close, clock


@covers(TradingClient, "get_calendar")
def check_get_calendar(served):
    days = call(trading(served).get_calendar,
                GetCalendarRequest(start=date(2026, 12, 1), end=date(2026, 12, 31)))
    assert all(isinstance(d, Calendar) for d in days), days
    dates = [d.date for d in days]
    assert dates == sorted(dates) and all(date(2026, 12, 1) <= d <= date(2026, 12, 31)
                                          for d in dates), dates
    assert all(d.weekday() < 5 for d in dates) and date(2026, 12, 25) not in dates, dates
    assert len(dates) == 22, dates
    assert all(d.open < d.close for d in days), days


# -- TradingClient: watchlists ----------------------------------------------

def watchlist(client, name="surface", symbols=("SPY", "QQQ")):
    made = call(client.create_watchlist, CreateWatchlistRequest(name=name, symbols=list(symbols)))
    assert isinstance(made, Watchlist), made
    return made


def symbols_of(listed):
    return [a.symbol for a in listed.assets or []]


@covers(TradingClient, "create_watchlist")
def check_create_watchlist(served):
    made = watchlist(trading(served))
    assert made.name == "surface" and symbols_of(made) == ["SPY", "QQQ"], made


@covers(TradingClient, "get_watchlists")
def check_get_watchlists(served):
    client = trading(served)
    assert call(client.get_watchlists) == []
    made = watchlist(client)
    listed = call(client.get_watchlists)
    assert all(isinstance(w, Watchlist) for w in listed), listed
    assert [(str(w.id), w.name) for w in listed] == [(str(made.id), "surface")], listed


@covers(TradingClient, "get_watchlist_by_id")
def check_get_watchlist_by_id(served):
    client = trading(served)
    made = watchlist(client)
    read = call(client.get_watchlist_by_id, made.id)
    assert isinstance(read, Watchlist) and str(read.id) == str(made.id), read
    assert symbols_of(read) == ["SPY", "QQQ"], read
    with pytest.raises(APIError) as refused:
        call(client.get_watchlist_by_id, uuid.uuid4())
    refused_as_alpaca(refused.value, 404, 40410000)


@covers(TradingClient, "update_watchlist_by_id")
def check_update_watchlist_by_id(served):
    client = trading(served)
    made = watchlist(client)
    updated = call(client.update_watchlist_by_id, made.id,
                   UpdateWatchlistRequest(name="surface-renamed", symbols=["QQQ"]))
    assert isinstance(updated, Watchlist) and str(updated.id) == str(made.id), updated
    assert updated.name == "surface-renamed" and symbols_of(updated) == ["QQQ"], updated


@covers(TradingClient, "add_asset_to_watchlist_by_id")
def check_add_asset_to_watchlist_by_id(served):
    client = trading(served)
    made = watchlist(client, symbols=["SPY"])
    added = call(client.add_asset_to_watchlist_by_id, made.id, "QQQ")
    assert isinstance(added, Watchlist) and symbols_of(added) == ["SPY", "QQQ"], added


@covers(TradingClient, "remove_asset_from_watchlist_by_id")
def check_remove_asset_from_watchlist_by_id(served):
    client = trading(served)
    made = watchlist(client)
    removed = call(client.remove_asset_from_watchlist_by_id, made.id, "SPY")
    assert isinstance(removed, Watchlist) and symbols_of(removed) == ["QQQ"], removed


@covers(TradingClient, "delete_watchlist_by_id")
def check_delete_watchlist_by_id(served):
    client = trading(served)
    made = watchlist(client)
    assert call(client.delete_watchlist_by_id, made.id) is None
    assert call(client.get_watchlists) == []
    with pytest.raises(APIError) as refused:
        call(client.get_watchlist_by_id, made.id)
    refused_as_alpaca(refused.value, 404, 40410000)


# -- TradingClient: corporate announcements, option contracts ---------------

@covers(TradingClient, "get_corporate_announcements")
def check_get_corporate_announcements(served):
    # The simulated market has no corporate actions: the endpoint is
    # refused as Alpaca refuses an account without the feature.
    today = now().date()
    with pytest.warns(DeprecationWarning), pytest.raises(APIError) as refused:
        call(trading(served).get_corporate_announcements,
             GetCorporateAnnouncementsRequest(
                 ca_types=[CorporateActionType.DIVIDEND, CorporateActionType.SPLIT],
                 since=today - timedelta(days=60), until=today, symbol="SPY"))
    refused_as_alpaca(refused.value, 403, 40310000, "corporate announcements")


@covers(TradingClient, "get_corporate_announcement_by_id")
def check_get_corporate_announcement_by_id(served):
    with pytest.raises(APIError) as refused:
        call(trading(served).get_corporate_announcement_by_id, uuid.uuid4())
    refused_as_alpaca(refused.value, 403, 40310000, "corporate announcements")


@covers(TradingClient, "get_option_contracts")
def check_get_option_contracts(served):
    # An account without options: refused as exercise is.
    with pytest.raises(APIError) as refused:
        call(trading(served).get_option_contracts,
             GetOptionContractsRequest(underlying_symbols=["SPY"], limit=100))
    refused_as_alpaca(refused.value, 403, 40310000, "options_approved_level 0")


@covers(TradingClient, "get_option_contract")
def check_get_option_contract(served):
    with pytest.raises(APIError) as refused:
        call(trading(served).get_option_contract, CONTRACT)
    refused_as_alpaca(refused.value, 403, 40310000, "options_approved_level 0")


# -- StockHistoricalDataClient ----------------------------------------------

def recent():
    return now() - timedelta(minutes=10)


def sane_bar(bar, symbol):
    assert isinstance(bar, Bar) and bar.symbol == symbol, bar
    assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high, bar
    assert bar.volume > 0 and bar.timestamp <= now(), bar


def sane_quote(quote, symbol):
    assert isinstance(quote, Quote) and quote.symbol == symbol, quote
    assert 0 < quote.bid_price <= quote.ask_price, quote
    assert quote.timestamp <= now(), quote


def sane_trade(trade, symbol):
    assert isinstance(trade, Trade) and trade.symbol == symbol, trade
    assert trade.price > 0 and trade.size > 0 and trade.timestamp <= now(), trade


def near(value, reference, within=0.05):
    assert abs(float(value) / reference - 1) < within, (value, reference)


@covers(StockHistoricalDataClient, "get_stock_bars")
def check_get_stock_bars(served):
    market_moved()
    bars = call(data(served, StockHistoricalDataClient).get_stock_bars,
                StockBarsRequest(symbol_or_symbols=["SPY", "QQQ"], timeframe=TimeFrame.Minute,
                                 start=recent()))
    assert isinstance(bars, BarSet), bars
    for symbol, reference in (("SPY", 590.10), ("QQQ", 512.40)):
        assert bars[symbol], (symbol, bars.data)
        for bar in bars[symbol]:
            sane_bar(bar, symbol)
            near(bar.close, reference)


@covers(StockHistoricalDataClient, "get_stock_quotes")
def check_get_stock_quotes(served):
    market_moved()
    quotes = call(data(served, StockHistoricalDataClient).get_stock_quotes,
                  StockQuotesRequest(symbol_or_symbols="SPY", start=recent()))
    assert isinstance(quotes, QuoteSet), quotes
    assert len(quotes["SPY"]) >= 2, quotes.data
    for quote in quotes["SPY"]:
        sane_quote(quote, "SPY")
        near(quote.ask_price, 590.10)
    stamps = [q.timestamp for q in quotes["SPY"]]
    assert stamps == sorted(stamps), stamps


@covers(StockHistoricalDataClient, "get_stock_trades")
def check_get_stock_trades(served):
    market_moved()
    trades = call(data(served, StockHistoricalDataClient).get_stock_trades,
                  StockTradesRequest(symbol_or_symbols="SPY", start=recent()))
    assert isinstance(trades, TradeSet), trades
    assert len(trades["SPY"]) >= 2, trades.data
    for trade in trades["SPY"]:
        sane_trade(trade, "SPY")
        near(trade.price, 590.10)


@covers(StockHistoricalDataClient, "get_stock_latest_trade")
def check_get_stock_latest_trade(served):
    latest = call(data(served, StockHistoricalDataClient).get_stock_latest_trade,
                  StockLatestTradeRequest(symbol_or_symbols=["SPY", "QQQ"]))
    assert set(latest) == {"SPY", "QQQ"}, latest
    sane_trade(latest["SPY"], "SPY")
    assert latest["QQQ"].price == 512.40, latest["QQQ"]


@covers(StockHistoricalDataClient, "get_stock_latest_quote")
def check_get_stock_latest_quote(served):
    latest = call(data(served, StockHistoricalDataClient).get_stock_latest_quote,
                  StockLatestQuoteRequest(symbol_or_symbols=["SPY", "QQQ"]))
    assert set(latest) == {"SPY", "QQQ"}, latest
    sane_quote(latest["SPY"], "SPY")
    assert latest["SPY"].bid_price < latest["SPY"].ask_price, latest["SPY"]
    sane_quote(latest["QQQ"], "QQQ")


@covers(StockHistoricalDataClient, "get_stock_latest_bar")
def check_get_stock_latest_bar(served):
    market_moved()
    latest = call(data(served, StockHistoricalDataClient).get_stock_latest_bar,
                  StockLatestBarRequest(symbol_or_symbols="SPY"))
    assert set(latest) == {"SPY"}, latest
    sane_bar(latest["SPY"], "SPY")


@covers(StockHistoricalDataClient, "get_stock_snapshot")
def check_get_stock_snapshot(served):
    market_moved()
    snapshots = call(data(served, StockHistoricalDataClient).get_stock_snapshot,
                     StockSnapshotRequest(symbol_or_symbols=["SPY", "QQQ"]))
    assert set(snapshots) == {"SPY", "QQQ"}, snapshots
    for symbol, snapshot in snapshots.items():
        assert isinstance(snapshot, Snapshot) and snapshot.symbol == symbol, snapshot
        sane_trade(snapshot.latest_trade, symbol)
        sane_quote(snapshot.latest_quote, symbol)
        sane_bar(snapshot.minute_bar, symbol)
        sane_bar(snapshot.daily_bar, symbol)


# -- CryptoHistoricalDataClient ---------------------------------------------

def crypto(served):
    return data(served, CryptoHistoricalDataClient)


@covers(CryptoHistoricalDataClient, "get_crypto_bars")
def check_get_crypto_bars(served):
    market_moved()
    bars = call(crypto(served).get_crypto_bars, CryptoBarsRequest(
        symbol_or_symbols=CRYPTO, timeframe=TimeFrame.Minute, start=recent()))
    assert isinstance(bars, BarSet) and bars[CRYPTO], bars.data
    for bar in bars[CRYPTO]:
        sane_bar(bar, CRYPTO)
        near(bar.close, 97000)


@covers(CryptoHistoricalDataClient, "get_crypto_quotes")
def check_get_crypto_quotes(served):
    market_moved()
    quotes = call(crypto(served).get_crypto_quotes,
                  CryptoQuoteRequest(symbol_or_symbols=CRYPTO, start=recent()))
    assert isinstance(quotes, QuoteSet) and quotes[CRYPTO], quotes.data
    for quote in quotes[CRYPTO]:
        sane_quote(quote, CRYPTO)
        near(quote.ask_price, 97000)


@covers(CryptoHistoricalDataClient, "get_crypto_trades")
def check_get_crypto_trades(served):
    market_moved()
    trades = call(crypto(served).get_crypto_trades,
                  CryptoTradesRequest(symbol_or_symbols=CRYPTO, start=recent()))
    assert isinstance(trades, TradeSet) and trades[CRYPTO], trades.data
    for trade in trades[CRYPTO]:
        sane_trade(trade, CRYPTO)
        near(trade.price, 97000)


@covers(CryptoHistoricalDataClient, "get_crypto_latest_trade")
def check_get_crypto_latest_trade(served):
    latest = call(crypto(served).get_crypto_latest_trade,
                  CryptoLatestTradeRequest(symbol_or_symbols=CRYPTO))
    assert set(latest) == {CRYPTO}, latest
    sane_trade(latest[CRYPTO], CRYPTO)
    near(latest[CRYPTO].price, 97000)


@covers(CryptoHistoricalDataClient, "get_crypto_latest_quote")
def check_get_crypto_latest_quote(served):
    latest = call(crypto(served).get_crypto_latest_quote,
                  CryptoLatestQuoteRequest(symbol_or_symbols=CRYPTO))
    assert set(latest) == {CRYPTO}, latest
    sane_quote(latest[CRYPTO], CRYPTO)


@covers(CryptoHistoricalDataClient, "get_crypto_latest_bar")
def check_get_crypto_latest_bar(served):
    market_moved()
    latest = call(crypto(served).get_crypto_latest_bar,
                  CryptoLatestBarRequest(symbol_or_symbols=CRYPTO))
    assert set(latest) == {CRYPTO}, latest
    sane_bar(latest[CRYPTO], CRYPTO)


@covers(CryptoHistoricalDataClient, "get_crypto_latest_orderbook")
def check_get_crypto_latest_orderbook(served):
    books = call(crypto(served).get_crypto_latest_orderbook,
                 CryptoLatestOrderbookRequest(symbol_or_symbols=CRYPTO))
    assert set(books) == {CRYPTO}, books
    book = books[CRYPTO]
    assert isinstance(book, Orderbook) and book.bids and book.asks, book
    assert max(b.price for b in book.bids) < min(a.price for a in book.asks), book


@covers(CryptoHistoricalDataClient, "get_crypto_snapshot")
def check_get_crypto_snapshot(served):
    market_moved()
    snapshots = call(crypto(served).get_crypto_snapshot,
                     CryptoSnapshotRequest(symbol_or_symbols=CRYPTO))
    assert set(snapshots) == {CRYPTO}, snapshots
    snapshot = snapshots[CRYPTO]
    assert isinstance(snapshot, Snapshot), snapshot
    sane_trade(snapshot.latest_trade, CRYPTO)
    sane_quote(snapshot.latest_quote, CRYPTO)


# -- OptionHistoricalDataClient ----------------------------------------------
# The session lists no option contract; Alpaca answers a contract with no
# data with empty data (200), so any data given must be the contract's.

def options(served):
    return data(served, OptionHistoricalDataClient)


@covers(OptionHistoricalDataClient, "get_option_bars")
def check_get_option_bars(served):
    bars = call(options(served).get_option_bars, OptionBarsRequest(
        symbol_or_symbols=CONTRACT, timeframe=TimeFrame.Day, start=now() - timedelta(days=5)))
    assert isinstance(bars, BarSet), bars
    assert set(bars.data) <= {CONTRACT}, bars.data
    for bar in bars.data.get(CONTRACT, []):
        sane_bar(bar, CONTRACT)


@covers(OptionHistoricalDataClient, "get_option_trades")
def check_get_option_trades(served):
    trades = call(options(served).get_option_trades, OptionTradesRequest(
        symbol_or_symbols=CONTRACT, start=now() - timedelta(days=5)))
    assert isinstance(trades, TradeSet), trades
    assert set(trades.data) <= {CONTRACT}, trades.data
    for trade in trades.data.get(CONTRACT, []):
        sane_trade(trade, CONTRACT)


@covers(OptionHistoricalDataClient, "get_option_latest_quote")
def check_get_option_latest_quote(served):
    latest = call(options(served).get_option_latest_quote,
                  OptionLatestQuoteRequest(symbol_or_symbols=CONTRACT))
    assert isinstance(latest, dict) and set(latest) <= {CONTRACT}, latest
    for quote in latest.values():
        assert isinstance(quote, Quote) and quote.bid_price <= quote.ask_price, quote


@covers(OptionHistoricalDataClient, "get_option_latest_trade")
def check_get_option_latest_trade(served):
    latest = call(options(served).get_option_latest_trade,
                  OptionLatestTradeRequest(symbol_or_symbols=CONTRACT))
    assert isinstance(latest, dict) and set(latest) <= {CONTRACT}, latest
    for trade in latest.values():
        sane_trade(trade, CONTRACT)


@covers(OptionHistoricalDataClient, "get_option_snapshot")
def check_get_option_snapshot(served):
    snapshots = call(options(served).get_option_snapshot,
                     OptionSnapshotRequest(symbol_or_symbols=CONTRACT))
    assert isinstance(snapshots, dict) and set(snapshots) <= {CONTRACT}, snapshots
    assert all(isinstance(s, OptionsSnapshot) for s in snapshots.values()), snapshots


@covers(OptionHistoricalDataClient, "get_option_chain")
def check_get_option_chain(served):
    chain = call(options(served).get_option_chain, OptionChainRequest(underlying_symbol="SPY"))
    assert isinstance(chain, dict), chain
    assert all(symbol.startswith("SPY") and isinstance(s, OptionsSnapshot)
               for symbol, s in chain.items()), chain


@covers(OptionHistoricalDataClient, "get_option_exchange_codes")
def check_get_option_exchange_codes(served):
    codes = call(options(served).get_option_exchange_codes)
    assert isinstance(codes, dict) and codes, codes
    assert all(isinstance(k, str) and len(k) == 1 and isinstance(v, str) and v
               for k, v in codes.items()), codes


# -- NewsClient, ScreenerClient, CorporateActionsClient ----------------------

@covers(NewsClient, "get_news")
def check_get_news(served):
    news = call(data(served, NewsClient).get_news,
                NewsRequest(symbols="SPY", start=now() - timedelta(days=3), limit=10))
    assert isinstance(news, NewsSet), news
    for article in news.data.get("news", []):
        assert "SPY" in article.symbols, article


@covers(ScreenerClient, "get_most_actives")
def check_get_most_actives(served):
    market_moved()
    actives = call(data(served, ScreenerClient).get_most_actives, MostActivesRequest(top=5))
    assert isinstance(actives, MostActives), actives
    assert 0 < len(actives.most_actives) <= 5, actives
    assert {a.symbol for a in actives.most_actives} <= {"SPY", "QQQ", CRYPTO}, actives
    volumes = [a.volume for a in actives.most_actives]
    assert volumes == sorted(volumes, reverse=True), volumes


@covers(ScreenerClient, "get_market_movers")
def check_get_market_movers(served):
    market_moved()
    movers = call(data(served, ScreenerClient).get_market_movers, MarketMoversRequest(top=5))
    assert isinstance(movers, Movers), movers
    assert len(movers.gainers) <= 5 and len(movers.losers) <= 5, movers
    assert all(m.percent_change >= 0 for m in movers.gainers), movers.gainers
    assert all(m.percent_change <= 0 for m in movers.losers), movers.losers


@covers(CorporateActionsClient, "get_corporate_actions")
def check_get_corporate_actions(served):
    today = now().date()
    actions = call(data(served, CorporateActionsClient).get_corporate_actions,
                   CorporateActionsRequest(symbols=["SPY"], start=today - timedelta(days=90),
                                           end=today))
    assert isinstance(actions, CorporateActionsSet), actions
    for kind, listed in actions.data.items():
        assert all(getattr(a, "symbol", "SPY") == "SPY" for a in listed), (kind, listed)


# -- the tests -----------------------------------------------------------------

def test_every_client_is_covered():
    """Every REST client under alpaca.data.historical is driven here."""
    assert data_clients() == set(CLIENTS) - {TradingClient}


def test_every_public_method_is_covered():
    """The public methods of the clients are exactly those driven here."""
    public = {(c.__name__, name) for c in CLIENTS for name in public_methods(c)}
    assert public == set(COVERED), {"not driven": sorted(public - set(COVERED)),
                                    "not public": sorted(set(COVERED) - public)}


@pytest.mark.parametrize("client_method", sorted(COVERED), ids=lambda cm: f"{cm[0]}.{cm[1]}")
def test_method(fillproof_serve, client_method):
    """The method works as Alpaca's does, or is refused as Alpaca refuses it."""
    COVERED[client_method](fillproof_serve)
