"""`fillproof serve` in a child process: start it, talk to its own
endpoints, shut it down and judge its report. Standard library only.

    with Served("fillproof", "scenarios/wire/calm-session.yaml") as served:
        ...point the bot at served.trading_url...
        served.claim({"bot-0": "5"})
    # leaving the block shuts serve down and raises ShortFall on findings

The pytest plugin (`fillproof_pytest.plugin`) wraps this in fixtures.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

__all__ = ["FillproofError", "Report", "Served", "ShortFall", "find_binary"]

#: Any non-empty key pair is accepted by serve; these are the ones handed out.
KEY = "PKFILLPROOF"
SECRET = "fillproof-secret"

#: Prices are judged to this many decimal places (serve's PRICE_DP).
PRICE_PLACES = Decimal("0.0001")

#: Metrics that exist only once the bot posted claims.
CLAIM_METRICS = ("missed_fills", "false_positives", "detection_rate", "price_mismatches")
#: Metrics that exist only once the bot reported a restart.
RESTART_METRICS = ("orders_orphaned", "duplicates_across_restarts")

Quantity = Union[str, int, float, Decimal]

#: Every serve process started and not yet closed: killed at exit, so a
#: session interrupted by anything never outlives the Python process.
_LIVE: "set[Served]" = set()


def kill_all() -> None:
    """Closes every session still open (kills its process)."""
    for served in list(_LIVE):
        served.close()


atexit.register(kill_all)


def _die_with_parent() -> None:
    """Run in the child before it starts serve (Linux): serve gets SIGTERM
    when the process that started it dies, however it dies (a SIGTERM or
    SIGKILL to pytest runs none of pytest's cleanup), and ends with its
    report as it does on any SIGTERM."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class FillproofError(RuntimeError):
    """serve could not be found, did not start, failed, or refused a
    request of the plugin's own (a claim it could not take, say)."""


class ShortFall(AssertionError):
    """The session's report has findings: an `expect:` threshold fell
    short, or the bot's claims disagree with the broker's ledger. Carries
    the report as `.report`."""

    def __init__(self, message: str, report: "Report"):
        super().__init__(message)
        self.report = report


def find_binary(explicit: Optional[str] = None) -> str:
    """The `fillproof` executable: `explicit` (a path, or a name looked up
    on PATH) when given, else `$FILLPROOF_BIN`, else `fillproof` on PATH."""
    for origin, value in (("--fillproof-bin", explicit),
                          ("FILLPROOF_BIN", os.environ.get("FILLPROOF_BIN"))):
        if not value:
            continue
        found = _executable(value)
        if found:
            return found
        raise FillproofError(
            f"the fillproof binary given by {origin} ({value!r}) is not an executable file"
            + ("" if os.sep in value else " nor a command on PATH"))
    found = shutil.which("fillproof")
    if found:
        return found
    raise FillproofError(
        "the fillproof binary was not found: give its path with --fillproof-bin PATH "
        "(pytest) or FILLPROOF_BIN, or put `fillproof` on PATH. It is built by "
        "`cargo build --release` in the fillproof repository (target/release/fillproof).")


def _executable(value: str) -> Optional[str]:
    path = Path(value).expanduser()
    if path.is_file() and os.access(path, os.X_OK):
        return str(path.resolve())
    if os.sep not in value:
        return shutil.which(value)
    return None


def _text(value: Quantity) -> str:
    """A quantity or price as the decimal string serve reads exactly."""
    if isinstance(value, bool):
        raise TypeError(f"not a quantity: {value!r}")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _decimal(value: Any) -> Optional[Decimal]:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


class Report(dict):
    """serve's report (the JSON it writes to --report), as a dict, with
    what serve printed (`summary`), its exit status (`exit_code`: 0 when
    every `expect:` threshold held, 1 when one fell short) and
    `findings()`: what the test fails on, in words."""

    def __init__(self, data: Mapping[str, Any], exit_code: Optional[int] = None,
                 summary: str = "", claimed: Optional[Mapping[str, str]] = None):
        super().__init__(data)
        self.exit_code = exit_code
        self.summary = summary
        self._claimed = dict(claimed or {})

    @property
    def passed(self) -> bool:
        """Whether every `expect:` threshold held (serve's `passed`)."""
        return bool(self.get("passed"))

    @property
    def ok(self) -> bool:
        """No finding: every threshold held and every claim was right."""
        return not self.findings()

    def claims_wrong(self) -> bool:
        """Whether the claims judged show a fill missed or invented, or a
        price that is not the broker's: in the session's figures, or in
        any account's (each API key trading an account of its own, the
        session's figures wait until every account has claimed)."""
        parts = [self] + list(self.get("accounts") or [])
        return any((part.get(m) or 0) > 0 for part in parts
                   for m in ("missed_fills", "false_positives", "price_mismatches"))

    def findings(self) -> List[str]:
        """Each way the session fell short, one line each: `expect:`
        thresholds that did not hold, then the orders whose claim is wrong."""
        lines = []
        for judged in self.get("expectations", []):
            if judged.get("ok"):
                continue
            expectation, actual = judged.get("expectation", "?"), judged.get("actual")
            if actual is None:
                lines.append(f"expect `{expectation}`: not measured ({self._why_unmeasured(expectation)})")
            else:
                lines.append(f"expect `{expectation}` fell short: actual {_number(actual)}")
        for account in self.get("accounts") or []:
            for judged in account.get("expectations", []):
                if not judged.get("ok"):
                    actual = judged.get("actual")
                    lines.append(f"account {account.get('key')}: expect "
                                 f"`{judged.get('expectation', '?')}` fell short: "
                                 + ("not measured" if actual is None else
                                    f"actual {_number(actual)}"))
        if self.get("partial"):
            lines.append("the report is of part of a session (partial), which never passes")
        lines.extend(self._unclaimed_accounts())
        lines.extend(self._claimed_before_due_fills())
        if self.claims_wrong():
            for part in [self] + list(self.get("accounts") or []):
                figures = ", ".join(f"{m} {part.get(m)}" for m in
                                    ("missed_fills", "false_positives", "price_mismatches")
                                    if part.get(m) is not None)
                if figures:
                    whose = f" (account {part.get('key')})" if part is not self else ""
                    lines.append(f"claims judged against the ledger{whose}: {figures}")
            lines.extend("  " + line for line in self._claim_details())
        return lines

    def _unclaimed_accounts(self) -> List[str]:
        """Once any account claimed, each account whose orders filled and
        that claimed nothing: with one account a fill left out of the
        claims is a missed fill, and a whole account left out is no less."""
        accounts = self.get("accounts") or []
        if not any(a.get("claims") is not None for a in accounts):
            return []
        return [f"account {a.get('key')}: {a.get('filled_orders')} orders filled and it "
                "posted no claims (claim(..., key=...) for each bot's account)"
                for a in accounts
                if a.get("claims") is None and (a.get("filled_orders") or 0) > 0]

    def _claimed_before_due_fills(self) -> List[str]:
        """Claimed orders the broker was still to fill when the session
        ended (their executions set for after it: `fills_due`): a claim
        on one was judged before the fills the bot was to see, so the
        bot's handling of them was never tested. A test lets its orders
        end (or cancels them) before it returns."""
        due = [o for o in self.get("orders", [])
               if o.get("claimed_qty") is not None and (o.get("fills_due") or 0) > 0]
        if not due:
            return []
        named = ", ".join(f"{o.get('client_order_id')} ({o.get('status')})" for o in due[:5])
        more = f" and {len(due) - 5} more" if len(due) > 5 else ""
        return [f"{len(due)} claimed orders were still to be filled when the session ended: "
                f"{named}{more}; their claims were judged before the fills the bot was to "
                "see: let the orders end before the test returns"]

    def _why_unmeasured(self, expectation: str) -> str:
        metric = expectation.split()[0] if expectation.split() else expectation
        if metric in CLAIM_METRICS and self.get("claims") is None:
            return "the bot posted no claims: post its belief with claim(filled_qty=...)"
        if metric == "price_mismatches":
            return "no claim gave an avg_price for a filled order"
        if metric == "detection_rate":
            return "nothing filled"
        if metric in RESTART_METRICS:
            return "the bot reported no restart (restart())"
        return "serve does not measure it"

    def _claim_details(self) -> List[str]:
        lines, explained = [], {"missed": 0, "invented": 0, "priced": 0}
        known = set()
        for order in self.get("orders", []):
            cid = order.get("client_order_id")
            known.add(cid)
            filled = _decimal(order.get("filled_qty")) or Decimal(0)
            claimed = _decimal(order.get("claimed_qty"))
            what = (f"{cid} ({order.get('side')} {_plain(order.get('qty'))} {order.get('symbol')}, "
                    f"order {order.get('id')}, {order.get('status')})")
            if claimed is None:
                if filled > 0:
                    explained["missed"] += 1
                    lines.append(f"missed fill: {what}: the broker filled {filled}; "
                                 "no claim names it")
                continue
            if claimed < filled:
                explained["missed"] += 1
                lines.append(f"missed fill: {what}: claimed filled {claimed}, "
                             f"the broker filled {filled}")
            elif claimed > filled:
                explained["invented"] += 1
                lines.append(f"false positive: {what}: claimed filled {claimed}, "
                             f"the broker filled {filled}")
            price = _decimal(order.get("claimed_avg_price"))
            truth = _average(order.get("fills", []), claimed)
            if price is not None and truth is not None and \
                    price.quantize(PRICE_PLACES, ROUND_HALF_EVEN) != truth:
                explained["priced"] += 1
                lines.append(f"price mismatch: {what}: claimed avg_price {price}, the broker's "
                             f"fills average {truth} ({_fills(order.get('fills', []))})")
        for cid, qty in self._claimed.items():
            value = _decimal(qty)
            if cid not in known and value is not None and value > 0:
                explained["invented"] += 1
                lines.append(f"false positive: {cid}: claimed filled {qty}; "
                             "the broker has no order with that client_order_id")
        if (self.get("false_positives") or 0) > explained["invented"]:
            lines.append("false positive: a claim posted before the broker had filled that "
                         "much counts, even when a later claim is right (each claim is judged "
                         "when it is posted)")
        if (self.get("missed_fills") or 0) > explained["missed"]:
            lines.append("missed fill: a fill counts as missed when the claim naming it "
                         "was posted before the broker had filled it")
        return lines


def _plain(value: Any) -> str:
    """A quantity as a bot writes it: 5, not 5.0 or 5.000."""
    number = _decimal(value)
    if number is None:
        return str(value)
    text = format(number.normalize(), "f")
    return text


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _average(fills: Sequence[Mapping[str, Any]], qty: Optional[Decimal]) -> Optional[Decimal]:
    """The ledger's average price of the first `qty` filled, as serve
    judges it."""
    if qty is None or qty <= 0:
        return None
    taken, notional = Decimal(0), Decimal(0)
    for fill in fills:
        if taken >= qty:
            break
        part = min(Decimal(str(fill["qty"])), qty - taken)
        taken += part
        notional += part * Decimal(str(fill["price"]))
    if taken <= 0:
        return None
    return (notional / taken).quantize(PRICE_PLACES, ROUND_HALF_EVEN)


def _fills(fills: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{f['qty']} at {f['price']}" for f in fills) or "no fills"


class Served:
    """One `fillproof serve SCENARIO --port 0 --report FILE` process.

    Point the bot at `trading_url` (alpaca-py: `url_override`), `data_url`,
    `stream_url` (trade_updates) and `data_stream_url` (market data), with
    `key` and `secret`. Post the bot's belief with `claim`, end with
    `shutdown`, which returns the `Report`. `close` kills the process if it
    still runs; leaving a `with` block does both.
    """

    key = KEY
    secret = SECRET

    def __init__(self, binary: str, scenario: Union[str, os.PathLike], *,
                 seed: Optional[int] = None, start: Optional[str] = None,
                 args: Sequence[str] = (), workdir: Optional[Union[str, os.PathLike]] = None,
                 cwd: Optional[Union[str, os.PathLike]] = None,
                 startup_timeout: float = 30.0, request_timeout: float = 30.0):
        self.scenario = Path(scenario)
        if not self.scenario.is_file():
            raise FillproofError(f"no scenario file at {self.scenario}")
        self._own_dir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else \
            Path(tempfile.mkdtemp(prefix="fillproof-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.report_path = self.workdir / "report.json"
        self.request_timeout = request_timeout
        self.command = [binary, "serve", str(self.scenario), "--port", "0",
                        "--report", str(self.report_path)]
        if seed is not None:
            self.command += ["--seed", str(int(seed))]
        if start is not None:
            self.command += ["--start", str(start)]
        self.command += [str(a) for a in args]
        self.url = ""
        self.claimed: Dict[str, str] = {}
        self._report: Optional[Report] = None
        self._lines: List[str] = []
        self._stderr = open(self.workdir / "serve.stderr", "w+", encoding="utf-8")
        try:
            self.process = subprocess.Popen(
                self.command, stdout=subprocess.PIPE, stderr=self._stderr,
                stdin=subprocess.DEVNULL, text=True, cwd=cwd,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        except OSError as error:
            self._stderr.close()
            raise FillproofError(f"cannot run {self.command[0]}: {error}") from error
        _LIVE.add(self)
        self._first = threading.Event()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True,
                                        name="fillproof-serve-stdout")
        self._reader.start()
        try:
            self._wait_for_address(startup_timeout)
        except BaseException:
            self.close()
            raise

    # -- the process --------------------------------------------------------

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            self._lines.append(line)
            self._first.set()
        self._first.set()

    def _wait_for_address(self, timeout: float) -> None:
        self._first.wait(timeout)
        prefix = "listening on "
        first = self._lines[0].strip() if self._lines else ""
        if first.startswith(prefix):
            self.url = first[len(prefix):].rstrip("/")
            return
        if not self._lines:
            # Its output ended (it is exiting: give it a moment to be
            # reaped, its status known), or the wait ran out.
            try:
                status = self.process.wait(timeout=5 if self._first.is_set() else 0)
                problem = f"exited with status {status} before listening"
            except subprocess.TimeoutExpired:
                problem = f"printed no address within {timeout:g} s"
        else:
            problem = f"printed {first!r}, not `listening on http://...`"
        self.process.kill()
        self.process.wait()
        self._reader.join(timeout=5)
        raise FillproofError(f"fillproof serve did not start: it {problem}\n"
                             f"command: {' '.join(self.command)}\n"
                             f"{self._output()}")

    def _output(self) -> str:
        parts = []
        stderr = self.stderr().strip()
        if stderr:
            parts.append("stderr:\n" + stderr)
        stdout = "".join(self._lines).strip()
        if stdout:
            parts.append("stdout:\n" + stdout)
        return "\n".join(parts) or "(it printed nothing)"

    def stderr(self) -> str:
        """What serve wrote to its standard error so far."""
        if self._stderr.closed:
            return ""
        self._stderr.flush()
        return (self.workdir / "serve.stderr").read_text(encoding="utf-8", errors="replace")

    @property
    def running(self) -> bool:
        """Whether serve's process is alive."""
        return self.process.poll() is None

    @property
    def shut_down(self) -> bool:
        """Whether the session was shut down and its report taken."""
        return self._report is not None

    def died(self) -> str:
        """Says how serve's process ended without a shutdown."""
        return (f"fillproof serve on {self.scenario.name} exited during the test "
                f"(status {self.process.poll()}) without being shut down\n{self._output()}")

    def close(self) -> None:
        """Kills serve if it still runs and frees what the session held."""
        _LIVE.discard(self)
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._reader.join(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()
        if not self._stderr.closed:
            self._stderr.close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Served":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        try:
            if kind is None:
                self.shutdown()
        finally:
            self.close()

    # -- addresses ----------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def trading_url(self) -> str:
        """The Trading API's base (alpaca-py: `TradingClient(url_override=...)`)."""
        return self.url

    @property
    def data_url(self) -> str:
        """The Market Data API's base: the same host."""
        return self.url

    @property
    def stream_url(self) -> str:
        """The trade_updates websocket."""
        return "ws://" + self.url.split("://", 1)[1] + "/stream"

    @property
    def data_stream_url(self) -> str:
        """The real-time stock data websocket (IEX feed)."""
        return "ws://" + self.url.split("://", 1)[1] + "/v2/iex"

    @property
    def env(self) -> Dict[str, str]:
        """Alpaca's usual environment variables, for a bot run as a child
        process."""
        return {"APCA_API_BASE_URL": self.trading_url, "APCA_API_DATA_URL": self.data_url,
                "APCA_API_KEY_ID": self.key, "APCA_API_SECRET_KEY": self.secret}

    # -- fillproof's own endpoints -----------------------------------------

    def _call(self, method: str, path: str, body: Any = None, key: Optional[str] = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if key is not None:
            # Claims and restarts are the account's whose key sends them.
            headers.update({"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": self.secret})
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.request_timeout) as answer:
                text = answer.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as error:
            text = error.read().decode("utf-8", errors="replace")
            raise FillproofError(f"{method} {path} was refused: {error.code} {text}") from error
        except (urllib.error.URLError, OSError) as error:
            raise FillproofError(f"{method} {path} got no answer: {error}\n{self._output()}") \
                from error
        return json.loads(text) if text.strip() else None

    def claim(self, filled_qty: Optional[Mapping[str, Quantity]] = None,
              avg_price: Optional[Mapping[str, Quantity]] = None, *,
              key: Optional[str] = None, **more: Any) -> Any:
        """Posts the bot's belief: for each client_order_id, the quantity it
        believes filled (and optionally the average price it believes it
        got). Quantities and prices go as decimal strings, read exactly.
        Each API key is an account of its own: the claim is the account's
        of `key` (default the session's `key`)."""
        body: Dict[str, Any] = {"filled_qty": {str(k): _text(v)
                                               for k, v in (filled_qty or {}).items()}}
        if avg_price is not None:
            body["avg_price"] = {str(k): _text(v) for k, v in avg_price.items()}
        body.update(more)
        answer = self._call("POST", "/_fillproof/claims", body, key or self.key)
        self.claimed.update(body["filled_qty"])
        return answer

    def restart(self, key: Optional[str] = None) -> Any:
        """Tells serve the bot restarted (its process and its memory): the
        bot trading with `key` (default the session's `key`)."""
        return self._call("POST", "/_fillproof/restart", {}, key or self.key)

    def report(self) -> Dict[str, Any]:
        """The ledger's view now (GET /_fillproof/report); the session
        goes on."""
        return self._call("GET", "/_fillproof/report")

    def shutdown(self, check: bool = True, timeout: float = 60.0) -> Report:
        """Ends the session: serve writes its report and exits. Returns the
        `Report`; with `check` (the default) raises `ShortFall` when it
        has findings. Called again, returns the same report."""
        if self._report is None:
            try:
                self._call("POST", "/_fillproof/shutdown", {})
                code = self.process.wait(timeout=timeout)
            except BaseException as error:
                self.close()
                if isinstance(error, subprocess.TimeoutExpired):
                    raise FillproofError(f"fillproof serve did not exit within {timeout:g} s of "
                                         f"its shutdown\n{self._output()}") from error
                raise
            self._reader.join(timeout=10)
            if code not in (0, 1) or not self.report_path.is_file():
                raise FillproofError(f"fillproof serve failed at shutdown (exit status {code})\n"
                                     f"{self._output()}")
            data = json.loads(self.report_path.read_text(encoding="utf-8"))
            self._report = Report(data, exit_code=code, summary="".join(self._lines[1:]),
                                  claimed=self.claimed)
        if check:
            findings = self._report.findings()
            if findings:
                raise ShortFall(self.describe(findings), self._report)
        return self._report

    def describe(self, findings: Sequence[str]) -> str:
        """The failure message for `findings`."""
        summary = self._report.summary.rstrip() if self._report else ""
        return (f"fillproof: the session on {self.scenario.name} fell short:\n"
                + "\n".join("  " + f for f in findings)
                + (f"\nserve's summary:\n{summary}" if summary else "")
                + ("" if self._own_dir else f"\nreport: {self.report_path}"))
