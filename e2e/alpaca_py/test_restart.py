"""A bot killed while its order works, and started again: alpaca-py's
`get_order_by_client_id` lets it find the order instead of sending it
again (`restart_bot.py`, run as a child process against the session)."""

import json
import subprocess
import sys
from pathlib import Path


BOT = Path(__file__).with_name("restart_bot.py")
SCENARIO = Path(__file__).with_name("restart-bot.yaml")


def restarted_bot(served, recovery):
    """Runs restart_bot.py's first process until its order is placed,
    kills it, tells serve the bot restarted, runs the `recovery` process to
    its end, posts its belief, and returns serve's report."""
    bot = [sys.executable, str(BOT), served.trading_url]
    first = subprocess.Popen(bot + ["first"], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "placed"
    finally:
        first.kill()
        first.wait(timeout=10)
        first.stdout.close()
    assert served.restart() == {"restarts": 1}
    done = subprocess.run(bot + [recovery], capture_output=True, text=True, timeout=60, check=True)
    belief = [line for line in done.stdout.splitlines() if line.startswith("belief ")]
    assert belief, done.stdout + done.stderr
    served.claim(json.loads(belief[-1][len("belief "):]))
    return served.shutdown(check=False)


def test_restart_recovered_by_client_id(fillproof_factory):
    """A restarted bot that finds its order by client_order_id leaves
    nothing orphaned and sends nothing twice."""
    report = restarted_bot(fillproof_factory(SCENARIO), "recover")
    assert report.exit_code == 0, report.summary
    assert report["restarts"] == 1, report
    assert report["orders_placed"] == 1, report
    assert report["filled_orders"] == 1, report
    assert report["orders_orphaned"] == 0, report
    assert report["duplicates_across_restarts"] == 0, report
    assert report["missed_fills"] == 0, report
    assert report.findings() == [], report.findings()


def test_restart_sent_again_is_caught(fillproof_factory):
    """A restarted bot that kept its ids in memory and sends the order
    again under a new id is caught: a duplicate across the restart, and
    the first order's fill missed."""
    report = restarted_bot(fillproof_factory(SCENARIO), "naive")
    assert report.exit_code == 1, report.summary
    assert report["orders_placed"] == 2, report
    assert report["duplicates_across_restarts"] == 1, report
    assert report["missed_fills"] == 1, report
    findings = "\n".join(report.findings())
    assert "expect `duplicates_across_restarts == 0` fell short: actual 1" in findings, findings
