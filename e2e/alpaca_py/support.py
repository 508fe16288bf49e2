"""What the alpaca-py end-to-end tests share: the scenarios' folder,
alpaca-py clients pointed at a `fillproof serve` session, and the polling
a bot written the way alpaca-py's documentation shows does."""

import threading
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from alpaca.data.historical import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderStatus, QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest
from alpaca.trading.stream import TradingStream

ROOT = Path(__file__).resolve().parents[2]
WIRE = ROOT / "scenarios" / "wire"


def trading_client(served):
    """alpaca-py's TradingClient on the session, only its URL changed."""
    return TradingClient(served.key, served.secret, paper=True, url_override=served.trading_url)


def stock_data_client(served):
    """alpaca-py's StockHistoricalDataClient on the session."""
    return StockHistoricalDataClient(served.key, served.secret, url_override=served.data_url)


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
    """alpaca-py's TradingStream on the session's /stream, keeping every
    event as (event name, order id, client order id); an event
    alpaca-py's enum does not know arrives as its plain name."""

    def __init__(self, served):
        self.events = []
        self.stream = TradingStream(served.key, served.secret, paper=True,
                                    url_override=served.stream_url)
        self.stream.subscribe_trade_updates(self.on_update)
        self.thread = threading.Thread(target=self.stream.run, daemon=True)
        self.thread.start()
        time.sleep(0.5)

    async def on_update(self, update):
        event = getattr(update.event, "value", update.event)
        self.events.append((str(event), str(update.order.id), str(update.order.client_order_id)))

    def saw(self, event, order_id):
        return any(e == event and oid == str(order_id) for e, oid, _ in self.events)

    def of(self, order_id):
        return [e for e, oid, _ in self.events if oid == str(order_id)]

    def client_ids(self, event):
        return {cid for e, _, cid in self.events if e == event}

    def stop(self):
        """Asks the stream to stop; alpaca-py's thread ends on its own at
        its next receive timeout (up to 5 s), not waited for here."""
        self.stream.stop()
