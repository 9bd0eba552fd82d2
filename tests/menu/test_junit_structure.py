"""`ivrflow test --junit`: the report's structure, checked against the rules of the JUnit
schema CI servers read (the Jenkins/Ant junit-10.xsd), encoded here (no network): element
nesting and order, required and allowed attributes, and counts that add up."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ivrflow.cli import main
from ivrflow.language.loader import load_flow
from ivrflow.menu.testing import junit, run_expectation

# junit-10.xsd: the attributes each element may carry, and those this report must carry
ALLOWED = {
    "testsuites": {"name", "time", "tests", "failures", "disabled", "errors"},
    "testsuite": {"name", "tests", "failures", "errors", "time", "disabled", "skipped",
                  "timestamp", "hostname", "id", "package", "file", "log", "url", "version"},
    "testcase": {"name", "assertions", "time", "classname", "status", "class", "file",
                 "line"},
    "failure": {"type", "message"},
    "error": {"type", "message"},
    "skipped": {"message"},
}
REQUIRED = {
    "testsuites": set(),
    "testsuite": {"name", "tests", "failures", "errors", "skipped", "time", "timestamp",
                  "hostname"},
    "testcase": {"name", "classname", "time"},
    "failure": {"message", "type"},
    "error": {"message", "type"},
    "skipped": set(),
}
# the children each element may hold, in this order (`?` at most one, `*` any number)
CHILDREN = {
    "testsuites": [("testsuite", "*")],
    "testsuite": [("properties", "?"), ("testcase", "*"), ("system-out", "?"),
                  ("system-err", "?")],
    "testcase": [("skipped", "?"), ("error", "*"), ("failure", "*"), ("system-out", "*"),
                 ("system-err", "*")],
    "failure": [], "error": [], "skipped": [],
}
COUNT = re.compile(r"(0|[1-9][0-9]*)")
SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")
# ISO 8601 as the Ant schema's timestamp pattern has it (no offset)
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")

MENU = ("version: 1\nname: m\nstart: a\nnodes:\n  a: {prompt: 1s, options: {'1': b}}\n"
        "  b: {prompt: 1s, end: true}\n")
EXPECT = "expect: {menu: m.menu.yaml, reach: b}\n"


def check_element(element: ET.Element) -> None:
    """One element and, recursively, its children against the rules above."""
    tag = element.tag
    assert tag in ALLOWED, f"<{tag}> is not a JUnit element"
    attributes = set(element.attrib)
    assert attributes <= ALLOWED[tag], f"<{tag}> may not carry {attributes - ALLOWED[tag]}"
    assert REQUIRED[tag] <= attributes, f"<{tag}> lacks {REQUIRED[tag] - attributes}"
    for name in ("tests", "failures", "errors", "skipped", "disabled"):
        if name in element.attrib:
            assert COUNT.fullmatch(element.attrib[name]), (tag, name, element.attrib[name])
    if "time" in element.attrib:
        assert SECONDS.fullmatch(element.attrib["time"]), (tag, element.attrib["time"])
    order = CHILDREN[tag]
    position = 0
    seen: dict[str, int] = {}
    for child in element:
        names = [name for name, _ in order]
        assert child.tag in names, f"<{child.tag}> may not be inside <{tag}>"
        index = names.index(child.tag)
        assert index >= position, f"<{child.tag}> out of order inside <{tag}>"
        position = index
        seen[child.tag] = seen.get(child.tag, 0) + 1
        if order[index][1] == "?":
            assert seen[child.tag] == 1, f"more than one <{child.tag}> inside <{tag}>"
        check_element(child)


def check_report(data: bytes) -> ET.Element:
    """The whole report: well-formed, a <testsuites> root, each suite's counts those of
    its test cases, the root's the sum of its suites'."""
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(data)
    assert root.tag == "testsuites"
    check_element(root)
    suites = root.findall("testsuite")
    assert suites
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "")) == len(cases)
        assert int(suite.get("failures", "")) == sum(1 for c in cases if c.find("failure")
                                                     is not None)
        assert int(suite.get("errors", "")) == sum(1 for c in cases if c.find("error")
                                                   is not None)
        assert int(suite.get("skipped", "")) == sum(1 for c in cases if c.find("skipped")
                                                    is not None)
        assert TIMESTAMP.fullmatch(suite.get("timestamp", "")), suite.get("timestamp")
        datetime.fromisoformat(suite.get("timestamp", ""))
        hostname = suite.get("hostname", "")
        assert hostname and not any(c.isspace() for c in hostname)  # an xs:token
        total = sum(float(c.get("time", "")) for c in cases)
        assert float(suite.get("time", "")) == pytest.approx(total, abs=0.0005 * len(cases))
    for name in ("tests", "failures", "errors"):
        if name in root.attrib:
            assert int(root.attrib[name]) == sum(int(s.get(name, "")) for s in suites)
    return root


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    """A passing flow, a failing one, one without an expect block and an invalid one."""
    (tmp_path / "m.menu.yaml").write_text(MENU)
    (tmp_path / "pass.yaml").write_text("version: 1\nname: p\nsteps:\n  - send: '1'\n" + EXPECT)
    (tmp_path / "fail.yaml").write_text("version: 1\nname: f\nsteps:\n  - send: '2'\n" + EXPECT)
    (tmp_path / "plain.yaml").write_text("version: 1\nname: u\nsteps:\n  - send: '1'\n")
    (tmp_path / "broken.yaml").write_text("version: 1\nname: x\nsteps: []\n")
    return tmp_path


def test_the_command_writes_a_report_of_the_junit_shape(flows: Path) -> None:
    """`ivrflow test --junit`: the report holds to the schema's rules, whatever it holds."""
    report = flows / "junit.xml"
    assert main(["test", str(flows), "--junit", str(report)]) == 2  # the invalid file
    root = check_report(report.read_bytes())
    suite = root.find("testsuite")
    assert suite is not None
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("type") == "expectation"
    assert "expected to reach 'b'" in (failure.text or "")
    error = suite.find("testcase/error")
    assert error is not None and error.get("type") == "invalid"
    assert "steps is empty" in (error.get("message") or "")


def test_every_kind_of_case(flows: Path) -> None:
    """Passed, failed, invalid (with its time) and skipped (no expect block) cases, and
    the suite's timestamp and hostname as given."""
    passed = run_expectation(load_flow(flows / "pass.yaml"))
    failed = run_expectation(load_flow(flows / "fail.yaml"))
    started = datetime(2026, 12, 2, 13, 38, 3, 500000)
    data = junit([passed, failed], [(str(flows / "broken.yaml"), "broken.yaml:3:8: bad", 0.25),
                                    ("old-style.yaml", "no time given")],
                 [str(flows / "plain.yaml")], started=started, hostname="ci-runner-7")
    root = check_report(data)
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.attrib["timestamp"] == "2026-12-02T13:38:03"
    assert suite.attrib["hostname"] == "ci-runner-7"
    assert [suite.get(k) for k in ("tests", "failures", "errors", "skipped")] == [
        "5", "1", "2", "1"]
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    broken = cases[str(flows / "broken.yaml")]
    assert broken.get("time") == "0.250" and broken.get("classname") == "invalid"
    assert cases["old-style.yaml"].get("time") == "0.000"
    skipped = cases[str(flows / "plain.yaml")]
    assert skipped.get("classname") == "untested"
    mark = skipped.find("skipped")
    assert mark is not None and "expect" in (mark.get("message") or "")
    assert cases[str(flows / "pass.yaml")].find("*") is None  # a pass has no children


def test_defaults_and_an_aware_timestamp(flows: Path) -> None:
    """Without `started` or `hostname`: now and this machine; an aware time is written
    as local time (the schema's pattern has no offset)."""
    passed = run_expectation(load_flow(flows / "pass.yaml"))
    before = datetime.now().replace(microsecond=0)
    suite = check_report(junit([passed], [])).find("testsuite")
    assert suite is not None
    assert before <= datetime.fromisoformat(suite.attrib["timestamp"]) <= datetime.now()
    aware = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    suite = check_report(junit([passed], [], started=aware)).find("testsuite")
    assert suite is not None
    assert suite.attrib["timestamp"] == aware.astimezone().replace(tzinfo=None).isoformat()


def test_hostile_names_keep_the_structure(flows: Path) -> None:
    """Control characters in paths and messages are escaped; the shape holds."""
    passed = run_expectation(load_flow(flows / "pass.yaml"))
    check_report(junit([passed], [("bad\x07\udcff.yaml", "bad\x00: \x1b[2J")],
                       ["plain\x1b.yaml"], hostname="host\x01"))
