"""The suite's time budget. .ci/run (and TEST_BUDGET=SECONDS make test) sets CSLR_SUITE_DEADLINE (epoch seconds) so that a suite
running late fails with its report, its slowest tests and the tests it did not reach named, before
CI's own limit kills it with nothing printed. A test that starts after the deadline fails at once
(never a skip: a test that did not run is not a passed one); a playbook run never runs past it
(cslr_testinfra.run_bounded)."""
import time

import pytest

from cslr_testinfra import suite_deadline


def pytest_runtest_setup(item):
    deadline = suite_deadline()
    if deadline is not None and time.time() > deadline:
        pytest.fail("not run: the suite's time budget (CSLR_SUITE_DEADLINE: .ci/run, TEST_BUDGET) ran out %d s "
                    "before this test; see the slowest durations below" % (time.time() - deadline),
                    pytrace=False)
