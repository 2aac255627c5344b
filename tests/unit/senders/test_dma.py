# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""dma parser: dma.conf keywords, auth.conf (user|smarthost:password); dma checks no certificate."""

import pytest

from ansible_collections.mailfleet.outlook.plugins.module_utils._senders import _dma
from mailfleet_testing.senders import CANARY, codes, only

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]


def test_parse_conf_and_auth():
    conf = _dma.parse_dma_conf("# c\nSMARTHOST smtp.office365.com\nPORT\t587\n#STARTTLS\nSECURETRANSFER # tls\n")
    assert conf == {"SMARTHOST": ("smtp.office365.com", 2), "PORT": ("587", 3), "SECURETRANSFER": (True, 5)}
    assert _dma.parse_auth_conf("# c\nu@contoso.com|smtp.office365.com:%s\n" % CANARY) == [("u@contoso.com", "smtp.office365.com", 2)]


@pytest.mark.parametrize("extra, port, security, required, cert, verdict", [
    ("PORT 587\nSECURETRANSFER\nSTARTTLS\n", 587, "starttls", True, False, "stops"),
    ("PORT 587\nSECURETRANSFER\nSTARTTLS\nOPPORTUNISTIC_TLS\n", 587, "starttls", False, False, "stops"),
    ("PORT 465\nSECURETRANSFER\n", 465, "tls", True, False, "wrong"),
    ("PORT 587\nSECURETRANSFER\nSTARTTLS\nFINGERPRINT %s\n" % ("AB" * 32), 587, "starttls", True, True, "stops"),
    ("", 25, "none", False, None, "wrong"),
])
def test_smarthost(fake_root, extra, port, security, required, cert, verdict):
    fake_root.write("/etc/dma/dma.conf", "SMARTHOST smtp.office365.com\nAUTHPATH /etc/dma/auth.conf\n" + extra)
    fake_root.write("/etc/dma/auth.conf", "dma@contoso.com|smtp.office365.com:%s\n" % CANARY, mode=0o640)
    f = only(fake_root.discover()["senders"], program="dma")
    assert (f["upstream"]["port"], f["security"], f["tls_required"], f["cert_check"]) == (port, security, required, cert)
    assert (f["auth"], f["account"], f["verdict"]) == ("password", "dma@contoso.com", verdict)
    assert f["secret"]["file"] == "/etc/dma/auth.conf" and f["secret"]["mode"] == "0640"
    assert "basic_auth" in codes(f)


def test_no_authpath_means_no_auth(fake_root):
    fake_root.write("/etc/dma/dma.conf", "SMARTHOST relay.example\nPORT 587\nSECURETRANSFER\nSTARTTLS\n")
    fake_root.write("/etc/dma/auth.conf", "u|relay.example:%s\n" % CANARY, mode=0o640)
    f = only(fake_root.discover()["senders"], program="dma")
    assert (f["auth"], f["microsoft"], f["verdict"]) == ("none", False, "unsafe") and codes(f) == ["no_cert_check"]


def test_commented_smarthost_is_nothing(fake_root):
    fake_root.write("/etc/dma/dma.conf", "#SMARTHOST mail.example.com\n")
    assert fake_root.discover()["senders"] == []
