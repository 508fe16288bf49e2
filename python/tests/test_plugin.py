"""The plugin, run by pytest's own pytester on small test files that use
it against the real `fillproof serve` (the binary the outer run was
given)."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CALM = ROOT / "scenarios" / "wire" / "calm-session.yaml"

#: A bot in a few lines of standard library: one market buy of 5 SPY,
#: polled until it reads filled.
BOT = '''
import json, time, urllib.request

def call(served, method, path, body=None):
    request = urllib.request.Request(
        served.trading_url + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"APCA-API-KEY-ID": served.key, "APCA-API-SECRET-KEY": served.secret,
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())

def buy_and_wait(served, client_order_id="bot-0"):
    order = call(served, "POST", "/v2/orders", {
        "symbol": "SPY", "qty": "5", "side": "buy", "type": "market",
        "time_in_force": "day", "client_order_id": client_order_id})
    deadline = time.monotonic() + 5
    while order["status"] != "filled" and time.monotonic() < deadline:
        time.sleep(0.05)
        order = call(served, "GET", "/v2/orders/" + order["id"])
    assert order["status"] == "filled", order
    return order
'''


def run(pytester, fillproof_bin, body, *args):
    pytester.makepyfile(test_bot=BOT + "\nimport pytest\n" + body.replace("CALM", repr(str(CALM))))
    return pytester.runpytest_subprocess("--fillproof-bin", fillproof_bin, "-p", "no:cacheprovider",
                                         *args)


def test_a_bot_that_claims_what_it_got_passes(pytester, fillproof_bin):
    result = run(pytester, fillproof_bin, '''
@pytest.mark.fillproof(CALM)
def test_bot(fillproof_serve):
    order = buy_and_wait(fillproof_serve)
    fillproof_serve.claim(filled_qty={"bot-0": order["filled_qty"]})
''')
    result.assert_outcomes(passed=1)


def test_a_wrong_claim_fails_the_test_naming_the_order(pytester, fillproof_bin):
    result = run(pytester, fillproof_bin, '''
@pytest.mark.fillproof(CALM)
def test_bot(fillproof_serve):
    buy_and_wait(fillproof_serve)
    fillproof_serve.claim(filled_qty={"bot-0": 10, "bot-ghost": "1"})
''')
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*the session on calm-session.yaml fell short*",
        "*expect `false_positives == 0` fell short: actual 2*",
        "*false positive: bot-0 (buy 5 SPY, order *, filled): claimed filled 10, the broker filled 5*",
        "*false positive: bot-ghost: claimed filled 1; the broker has no order*",
    ])


def test_a_fill_never_claimed_fails_the_test(pytester, fillproof_bin):
    result = run(pytester, fillproof_bin, '''
@pytest.mark.fillproof(CALM)
def test_bot(fillproof_serve):
    buy_and_wait(fillproof_serve, "bot-0")
    buy_and_wait(fillproof_serve, "bot-1")
    fillproof_serve.claim(filled_qty={"bot-0": "5"})
''')
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*expect `missed_fills == 0` fell short: actual 1*",
        "*missed fill: bot-1 (buy 5 SPY, order *, filled): the broker filled 5; no claim names it*",
    ])


def test_no_claim_at_all_fails_saying_so(pytester, fillproof_bin):
    result = run(pytester, fillproof_bin, '''
@pytest.mark.fillproof(CALM)
def test_bot(fillproof_serve):
    buy_and_wait(fillproof_serve)
''')
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*expect `missed_fills == 0`: not measured (the bot posted no claims*"])


def test_findings_a_test_expects_are_its_own_to_assert(pytester, fillproof_bin):
    result = run(pytester, fillproof_bin, '''
@pytest.mark.fillproof(CALM)
def test_bot(fillproof_serve):
    buy_and_wait(fillproof_serve)
    fillproof_serve.claim(filled_qty={"bot-0": "4"})
    report = fillproof_serve.shutdown(check=False)
    assert report.exit_code == 1 and report["missed_fills"] == 1, report.summary
    assert any(f.startswith("expect `missed_fills == 0` fell short") for f in report.findings())
''')
    result.assert_outcomes(passed=1)


def test_shutdown_in_the_test_raises_on_findings(pytester, fillproof_bin):
    result = run(pytester, fillproof_bin, '''
from fillproof_pytest import ShortFall

def test_bot(fillproof_factory):
    served = fillproof_factory(CALM, seed=4)
    buy_and_wait(served)
    served.claim(filled_qty={"bot-0": "6"})
    with pytest.raises(ShortFall) as short:
        served.shutdown()
    assert short.value.report["false_positives"] == 1
    assert short.value.report["seed"] == 4
''')
    result.assert_outcomes(passed=1)


def test_a_missing_binary_is_a_clear_error(pytester, fillproof_bin):
    result = run(pytester, "/nonexistent/fillproof", '''
@pytest.mark.fillproof(CALM)
def test_bot(fillproof_serve):
    pass
''')
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--fillproof-bin ('/nonexistent/fillproof') is not an executable file*"])


def test_a_serve_that_does_not_start_shows_its_stderr(pytester, fillproof_bin):
    pytester.makefile(".yaml", broken="version: 1\nname: broken\nworkload: [\n")
    result = run(pytester, fillproof_bin, '''
@pytest.mark.fillproof("broken.yaml")
def test_bot(fillproof_serve):
    pass
''')
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fillproof serve did not start: it exited with status 2*",
                                 "stderr:", "*broken.yaml:3:*`workload`*"])
    result.stdout.no_fnmatch_line("*During handling of the above exception*")


def test_a_test_without_a_scenario_is_told_how_to_give_one(pytester, fillproof_bin):
    result = run(pytester, fillproof_bin, '''
def test_bot(fillproof_serve):
    pass
''')
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.fillproof(*) or override the fillproof_scenario*"])


def test_no_serve_outlives_a_test_that_raised(pytester, fillproof_bin, tmp_path):
    pids = tmp_path / "pids"
    result = run(pytester, fillproof_bin, f'''
@pytest.mark.fillproof(CALM)
def test_bot(fillproof_serve, fillproof_factory):
    other = fillproof_factory(CALM)
    with open({str(pids)!r}, "w") as out:
        out.write(f"{{fillproof_serve.process.pid}} {{other.process.pid}}")
    raise RuntimeError("the bot crashed")
''')
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: the bot crashed*"])
    started = [int(pid) for pid in pids.read_text().split()]
    assert len(started) == 2
    for pid in started:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_an_account_that_missed_a_fill_fails_the_test(pytester, fillproof_bin):
    # Each API key trades an account of its own. Here the scenario
    # expects only no duplicates, and the session's claims figures are
    # absent (the second bot never claimed): the first bot's account,
    # which claimed its fill as nothing, still fails the test.
    text = CALM.read_text()
    text = text[:text.index("expect:")] + 'expect:\n  duplicate_orders: "== 0"\n'
    pytester.makefile(".yaml", dup=text)
    result = run(pytester, fillproof_bin, '''
import types

@pytest.mark.fillproof("dup.yaml")
def test_bot(fillproof_serve):
    buy_and_wait(fillproof_serve, "bot-0")
    other = types.SimpleNamespace(trading_url=fillproof_serve.trading_url, key="other-bot",
                                  secret=fillproof_serve.secret)
    buy_and_wait(other, "bot-1")
    fillproof_serve.claim(filled_qty={"bot-0": "0"})
''')
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*claims judged against the ledger (account PK*): missed_fills 1*",
    ])


def test_claims_on_orders_still_working_fail_the_test(pytester, fillproof_bin):
    # A bot that claims what its submits answered and never watches its
    # orders: the session ends before the broker fills them. Its claims
    # were true at that instant only; the test fails, saying so.
    result = run(pytester, fillproof_bin, '''
@pytest.mark.fillproof(CALM)
def test_bot(fillproof_serve):
    order = call(fillproof_serve, "POST", "/v2/orders", {
        "symbol": "SPY", "qty": "5", "side": "buy", "type": "market",
        "time_in_force": "day", "client_order_id": "bot-0"})
    fillproof_serve.claim(filled_qty={"bot-0": order["filled_qty"]})
''')
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*1 claimed orders were still to be filled when the session ended: bot-0 (*)*",
    ])


def test_an_account_that_never_claimed_fails_the_test_once_another_did(pytester, fillproof_bin):
    # A scenario with no claims threshold: one bot claims its fill, the
    # other, trading its own account, never claims. With one account a
    # fill left out of the claims is a missed fill; a whole account left
    # out fails the test too.
    text = CALM.read_text()
    text = text[:text.index("expect:")] + 'expect:\n  duplicate_orders: "== 0"\n'
    pytester.makefile(".yaml", dup=text)
    result = run(pytester, fillproof_bin, '''
import types

@pytest.mark.fillproof("dup.yaml")
def test_bot(fillproof_serve):
    mine = buy_and_wait(fillproof_serve, "bot-0")
    other = types.SimpleNamespace(trading_url=fillproof_serve.trading_url, key="other-bot",
                                  secret=fillproof_serve.secret)
    buy_and_wait(other, "bot-1")
    fillproof_serve.claim(filled_qty={"bot-0": mine["filled_qty"]})
''')
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*account other-bot: 1 orders filled and it posted no claims*"])
