"""pytest plugin: a test gets `fillproof serve` on a scenario, points its
bot at it, posts the bot's belief, and fails when the broker's ledger
disagrees or the scenario's `expect:` falls short.

    @pytest.mark.fillproof("scenarios/wire/calm-session.yaml", seed=3)
    def test_bot(fillproof_serve):
        client = TradingClient(fillproof_serve.key, fillproof_serve.secret,
                               paper=True, url_override=fillproof_serve.trading_url)
        ...
        fillproof_serve.claim(filled_qty={"bot-0": "5"})

Fixtures:
- `fillproof_serve`: one session on the scenario the `fillproof` marker
  names (or the `fillproof_scenario` fixture, overridable, gives);
- `fillproof_factory`: `fillproof_factory(scenario, seed=..., start=...,
  args=...)` starts a session, as many as the test needs;
- `fillproof_bin`: the binary (`--fillproof-bin`, `$FILLPROOF_BIN`, else
  `fillproof` on PATH).

When the test's body returns, every session it has not shut down itself
is shut down and judged: the test fails with the findings (thresholds
that fell short, claims that were wrong). A test that expects findings
takes the report with `shutdown(check=False)` and asserts on it. Whatever
happens, no serve process outlives its test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Union

import pytest

from .served import FillproofError, Served, find_binary, kill_all

_SESSIONS = pytest.StashKey[List[Served]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fillproof", "fillproof serve")
    group.addoption(
        "--fillproof-bin", dest="fillproof_bin", default=None, metavar="PATH",
        help="the fillproof binary to serve scenarios with "
             "(default: $FILLPROOF_BIN, else `fillproof` on PATH)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fillproof(scenario, seed=None, start=None, args=()): the scenario the "
        "fillproof_serve fixture serves (a path, relative to the test file's "
        "folder, else to the rootdir or the directory pytest was started in), its "
        "seed (default the scenario's), the session's start instant (RFC 3339) "
        "and more arguments for `fillproof serve`")


def pytest_unconfigure(config: pytest.Config) -> None:
    kill_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Once the test's body returned, shuts down and judges each session it
    left running; the test fails on their findings."""
    result = yield
    failures = []
    for served in item.stash.get(_SESSIONS, []):
        if served.shut_down:
            continue
        if not served.running:
            failures.append(served.died())
            continue
        try:
            report = served.shutdown(check=False)
        except FillproofError as error:
            failures.append(str(error))
            continue
        findings = report.findings()
        if findings:
            failures.append(served.describe(findings))  # serve's summary included
        else:
            item.add_report_section("call", f"fillproof serve {served.scenario.name}",
                                    report.summary)
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)
    return result


@pytest.fixture(scope="session")
def fillproof_bin(pytestconfig: pytest.Config) -> str:
    """The fillproof executable the sessions run."""
    try:
        return find_binary(pytestconfig.getoption("fillproof_bin"))
    except FillproofError as error:
        problem = str(error)
    pytest.fail(problem, pytrace=False)


def _marker(request: pytest.FixtureRequest):
    return request.node.get_closest_marker("fillproof")


@pytest.fixture
def fillproof_scenario(request: pytest.FixtureRequest) -> Union[str, Path]:
    """The scenario `fillproof_serve` serves: the `fillproof` marker's.
    Override it to give one without the marker."""
    marker = _marker(request)
    scenario = None
    if marker is not None:
        scenario = marker.kwargs.get("scenario", marker.args[0] if marker.args else None)
    if scenario is None:
        pytest.fail("fillproof_serve needs a scenario: mark the test "
                    "@pytest.mark.fillproof(\"path/to/scenario.yaml\") or override the "
                    "fillproof_scenario fixture", pytrace=False)
    return scenario


@pytest.fixture
def fillproof_seed(request: pytest.FixtureRequest) -> Optional[int]:
    """The seed `fillproof_serve` serves with: the `fillproof` marker's
    `seed`, else the scenario's own. Override it to choose another."""
    marker = _marker(request)
    return marker.kwargs.get("seed") if marker is not None else None


def _resolve(request: pytest.FixtureRequest, scenario: Union[str, Path]) -> Path:
    path = Path(scenario).expanduser()
    if path.is_absolute():
        return path
    config = request.config
    bases = [Path(request.node.path).parent, config.rootpath, config.invocation_params.dir]
    for base in bases:
        if (base / path).is_file():
            return (base / path).resolve()
    pytest.fail(f"no scenario {scenario}: looked in "
                + ", ".join(str(b) for b in dict.fromkeys(bases)), pytrace=False)


@pytest.fixture
def fillproof_factory(request: pytest.FixtureRequest, fillproof_bin: str,
                      tmp_path: Path) -> Callable[..., Served]:
    """Starts `fillproof serve` sessions for the test:
    `fillproof_factory(scenario, seed=None, start=None, args=())`. Each
    report and serve's stderr are kept under the test's tmp_path."""
    sessions = request.node.stash.setdefault(_SESSIONS, [])

    def start(scenario: Union[str, Path], *, seed: Optional[int] = None,
              start: Optional[str] = None, args: Sequence[str] = (),
              startup_timeout: float = 30.0) -> Served:
        try:
            served = Served(fillproof_bin, _resolve(request, scenario), seed=seed,
                            start=start, args=args,
                            workdir=tmp_path / f"fillproof-{len(sessions)}",
                            cwd=request.config.rootpath, startup_timeout=startup_timeout)
        except FillproofError as error:
            problem = str(error)
        else:
            sessions.append(served)
            return served
        pytest.fail(problem, pytrace=False)

    yield start
    for served in sessions:
        try:
            if served.running:
                # The test failed before its sessions were judged: take the
                # report anyway, for serve's summary beside the failure.
                report = served.shutdown(check=False, timeout=10)
                request.node.add_report_section(
                    "teardown", f"fillproof serve {served.scenario.name}", report.summary)
        except Exception:  # the process is killed below whatever went wrong
            pass
        finally:
            served.close()


@pytest.fixture
def fillproof_serve(request: pytest.FixtureRequest, fillproof_factory: Callable[..., Served],
                    fillproof_scenario: Union[str, Path],
                    fillproof_seed: Optional[int]) -> Served:
    """A running `fillproof serve` session on the test's scenario."""
    marker = _marker(request)
    options: Any = marker.kwargs if marker is not None else {}
    return fillproof_factory(fillproof_scenario, seed=fillproof_seed,
                             start=options.get("start"), args=options.get("args", ()))
