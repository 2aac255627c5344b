# Fixtures of the fleet report unit tests: sample host results shaped like smtp_check's result
# (mailfleet_testing.report_samples, shared with the integration test of the page in Chromium).
import pytest
from mailfleet_testing import report_samples


@pytest.fixture
def sample():
    """Six hosts: ok, ISP block (timeout), refused, bad certificate, unreachable by Ansible, never ran."""
    return report_samples.sample()
