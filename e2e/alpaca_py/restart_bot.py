"""A bot that survives its own restart, written the way alpaca-py's
documentation allows: its orders carry client ids it can derive again
(here, one per signal), so a restarted process finds an order it may have
sent with `get_order_by_client_id` instead of sending it again.

Usage: python restart_bot.py BASE_URL first|recover|naive
- first: sends the order, prints `placed`, and waits for its fill (the
  end-to-end suite kills it meanwhile);
- recover: looks the order up by its client id; sends it only when the
  broker has none (404); waits for the fill;
- naive: a bot that kept its ids in memory: sends the order again under
  a new id.
At the end it prints its belief, `belief {"<client_order_id>": "<qty>"}`.
"""

import json
import sys
import time

from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

KEY, SECRET = "PKFILLPROOF", "fillproof-secret"
SIGNAL_ID = "restart-bot-signal-1"


def order(client_order_id):
    return MarketOrderRequest(symbol="SPY", qty=5, side=OrderSide.BUY,
                              time_in_force=TimeInForce.DAY,
                              client_order_id=client_order_id)


def until_filled(client, order_id, deadline_s=10.0):
    deadline = time.monotonic() + deadline_s
    while True:
        current = client.get_order_by_id(order_id)
        if current.status == OrderStatus.FILLED or time.monotonic() > deadline:
            return current
        time.sleep(0.05)


def main():
    url, mode = sys.argv[1], sys.argv[2]
    client = TradingClient(KEY, SECRET, paper=True, url_override=url)
    if mode == "first":
        placed = client.submit_order(order(SIGNAL_ID))
        print("placed", flush=True)
        final = until_filled(client, placed.id, deadline_s=60.0)
    elif mode == "recover":
        try:
            found = client.get_order_by_client_id(SIGNAL_ID)
        except APIError as error:
            if error.status_code != 404:
                raise
            found = client.submit_order(order(SIGNAL_ID))
        final = until_filled(client, found.id)
    else:
        placed = client.submit_order(order(SIGNAL_ID + "-again"))
        final = until_filled(client, placed.id)
    print("belief " + json.dumps({final.client_order_id: str(final.filled_qty)}), flush=True)


if __name__ == "__main__":
    main()
