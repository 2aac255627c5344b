"""Proxies for smtp_check (_probe/proxy.py): URL rules, and the SOCKS5 / HTTP CONNECT tunnel inside the deadline,
against in-test proxies on loopback (proxy_fakes) in front of in-test mail servers."""

import time

import pytest

import proxy_fakes
import smtpcheck_fakes as fakes
from mailfleet_testing import black_hole_port
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import engine as probe
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import proxy

pytestmark = [pytest.mark.timeout(60), pytest.mark.core_independent]

CANARY_PROXY_PASSWORD = "Canary-Proxy-Pw-5d2c8a"
TIMEOUT = 2.0
MARGIN = 0.6


def run(target_port, proxy_url, password=None, host="localhost", security="starttls", protocol="smtp", **options):
    options.setdefault("timeout", TIMEOUT)
    options.setdefault("ehlo_name", "probe.example.test")
    ep = {"name": "t", "host": host, "port": target_port, "security": security, "protocol": protocol}
    started = time.monotonic()
    result = probe.probe_endpoints([ep], dict(options, proxy=proxy_url, proxy_password=password))[0]
    result["_elapsed"] = time.monotonic() - started
    return result


def code(result):
    return result["diagnosis"]["code"]


@pytest.fixture
def smtp(fake, certs):
    return fake(fakes.scripted_smtp(certs.good))


# ----------------------------------------------------------------------------- URLs

@pytest.mark.parametrize("url,expected", [
    ("socks5h://proxy.corp.example:1080", ("socks5h", "proxy.corp.example", 1080, None, True)),
    ("socks5h://proxy.corp.example", ("socks5h", "proxy.corp.example", 1080, None, True)),
    ("SOCKS5://10.0.0.1", ("socks5", "10.0.0.1", 1080, None, False)),
    ("http://proxy:8080", ("http", "proxy", 8080, None, True)),
    ("http://proxy", ("http", "proxy", 3128, None, True)),
    ("socks5h://mail%40probe@[2001:db8::1]:1081", ("socks5h", "2001:db8::1", 1081, "mail@probe", True)),
    ("http://probe@proxy:3128/", ("http", "proxy", 3128, "probe", True)),
])
def test_parse_proxy(url, expected):
    spec = proxy.parse_proxy(url, "pw" if expected[3] else None)
    assert (spec["scheme"], spec["host"], spec["port"], spec["username"], spec["remote_dns"]) == expected
    assert "@" not in spec["url"] and spec["url"].startswith(expected[0] + "://")


@pytest.mark.parametrize("url,password,message", [
    ("proxy.corp:1080", None, "no scheme"),
    ("https://proxy:443", None, "TLS connection to the proxy"),
    ("socks4://proxy", None, "SOCKS4"),
    ("socks://proxy", None, "name the SOCKS version"),
    ("ftp://proxy", None, "not a proxy this module speaks"),
    ("socks5h://user:Sekr3t-in-url@proxy:1080", None, "put the password in proxy_password"),
    ("socks5h://proxy:1080/path", None, "no path"),
    ("socks5h://proxy:99999", None, "not a valid URL"),
    ("socks5h://proxy:0", None, "out of range"),
    ("socks5h://bad_host!:1080", None, "no valid proxy host"),
    ("socks5h://proxy:1080", "orphan-password", "has no user name"),
    ("socks5h://pro xy:1080", None, "spaces or control characters"),
    ("http://us:er@proxy", None, "put the password in proxy_password"),
    ("socks5h://%s@proxy" % ("u" * 256), None, "longer than 255 bytes"),
    (12, None, "not a URL string"),
])
def test_parse_proxy_refusals_name_variable_value_and_fix(url, password, message):
    with pytest.raises(ValueError) as err:
        proxy.parse_proxy(url, password, variable="reachability_proxy")
    text = str(err.value)
    assert message in text and "Fix:" in text
    assert "reachability_proxy" in text or "proxy_password" in text
    assert "Sekr3t-in-url" not in text  # the value is shown with its password masked


def test_direct_and_empty_mean_no_proxy():
    assert proxy.parse_proxy(None) is None and proxy.parse_proxy("") is None and proxy.parse_proxy("direct") is None
    with pytest.raises(ValueError, match="the password would go nowhere"):
        proxy.parse_proxy(None, "orphan-password")


def test_proxy_secrets_cover_the_encoded_forms():
    spec = proxy.parse_proxy("http://probe@proxy", CANARY_PROXY_PASSWORD)
    values = proxy.proxy_secrets(spec)
    assert CANARY_PROXY_PASSWORD in values
    assert proxy._basic_credentials(spec) in values  # pylint: disable=protected-access
    assert proxy.proxy_secrets(proxy.parse_proxy("socks5h://proxy")) == []


def test_endpoint_proxy_options():
    opts = probe.normalize_options({"proxy": "socks5h://probe@proxy:1080", "proxy_password": CANARY_PROXY_PASSWORD})
    ep = probe.normalize_endpoint({"host": "smtp.example.test", "port": 587}, 0, opts)
    assert ep["proxy"]["password"] == CANARY_PROXY_PASSWORD
    direct = probe.normalize_endpoint({"host": "smtp.example.test", "port": 587, "proxy": "direct"}, 0, opts)
    assert direct["proxy"] is None
    own = probe.normalize_endpoint({"host": "h.example.test", "port": 587, "proxy": "http://other@proxy2"}, 0, opts)
    assert own["proxy"]["password"] is None  # the call's password never goes to another proxy
    with pytest.raises(ValueError, match="endpoint h.example.test:587: proxy_password is set without"):
        probe.normalize_endpoint({"host": "h.example.test", "port": 587, "proxy_password": "x-pw"}, 0, opts)
    with pytest.raises(ValueError, match="endpoint e1: proxy="):
        probe.normalize_endpoint({"name": "e1", "host": "h.example.test", "port": 587, "proxy": "gopher://x"}, 0, opts)


# ----------------------------------------------------------------------------- SOCKS5

def test_socks5h_tunnel_sends_the_name(fake, certs, smtp):
    socks = fake(proxy_fakes.socks5())
    res = run(smtp.port, "socks5h://127.0.0.1:%d" % socks.port, ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]
    assert res["proxy"] == "socks5h://127.0.0.1:%d" % socks.port
    assert socks.requests[0]["atyp"] == 3 and socks.requests[0]["address"] == "localhost"
    assert socks.requests[0]["methods"] == [0]
    assert set(res["timings_ms"]) >= {"dns", "connect", "proxy", "banner", "tls", "total"}
    assert res["tls"]["verified"] and "localhost" in res["tls"]["cert"]["san"]  # the mail server's name, not the proxy's


def test_socks5_resolves_here_and_sends_the_address(fake, certs, smtp):
    socks = fake(proxy_fakes.socks5())
    res = run(smtp.port, "socks5://127.0.0.1:%d" % socks.port, ca_path=certs.ca_file, address_family="ipv4")
    assert res["ok"], res["diagnosis"]
    assert socks.requests[0]["atyp"] == 1 and socks.requests[0]["address"] == "127.0.0.1"


def test_socks5_implicit_tls_through_the_tunnel(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good, implicit_tls=True))
    socks = fake(proxy_fakes.socks5())
    res = run(server.port, "socks5h://127.0.0.1:%d" % socks.port, security="tls", ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]


def test_plain_on_tls_port_heuristic_goes_through_the_proxy(fake, certs):
    server = fake(fakes.scripted_smtp(certs.good, implicit_tls=True))
    socks = fake(proxy_fakes.socks5())
    res = run(server.port, "socks5h://127.0.0.1:%d" % socks.port, ca_path=certs.ca_file)
    assert code(res) == "plain_on_tls_port"
    assert len(socks.requests) == 2  # the second connection (the TLS check) went through the proxy too


def test_socks5_username_password(fake, certs, smtp):
    socks = fake(proxy_fakes.socks5(credentials=("probe", CANARY_PROXY_PASSWORD)))
    res = run(smtp.port, "socks5h://probe@127.0.0.1:%d" % socks.port, CANARY_PROXY_PASSWORD, ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]
    assert socks.requests[0]["methods"] == [0, 2] and socks.requests[0]["password"] == CANARY_PROXY_PASSWORD
    assert CANARY_PROXY_PASSWORD not in repr(res)


@pytest.mark.parametrize("url,password,expected", [
    ("socks5h://127.0.0.1:{port}", None, "proxy_auth_required"),
    ("socks5h://probe@127.0.0.1:{port}", "wrong-password", "proxy_auth_failed"),
])
def test_socks5_authentication_failures(fake, certs, smtp, url, password, expected):
    socks = fake(proxy_fakes.socks5(credentials=("probe", CANARY_PROXY_PASSWORD)))
    res = run(smtp.port, url.format(port=socks.port), password, ca_path=certs.ca_file)
    assert code(res) == expected and res["failed_stage"] == "proxy" and res["stage"] == "connect"
    assert res["_elapsed"] < TIMEOUT


def test_socks5_no_acceptable_method_with_credentials(fake, certs, smtp):
    socks = fake(proxy_fakes.socks5(method=0xFF))
    res = run(smtp.port, "socks5h://probe@127.0.0.1:%d" % socks.port, "x-password", ca_path=certs.ca_file)
    assert code(res) == "proxy_auth_required" and "GSSAPI" in res["diagnosis"]["message"]


@pytest.mark.parametrize("reply", sorted(proxy.SOCKS_REPLIES))
def test_every_socks_reply_code(fake, certs, smtp, reply):
    socks = fake(proxy_fakes.socks5(reply=reply))
    res = run(smtp.port, "socks5h://127.0.0.1:%d" % socks.port, ca_path=certs.ca_file)
    assert code(res) == proxy.SOCKS_REPLIES[reply][0]
    assert "0x%02x" % reply in res["diagnosis"]["message"] and res["failed_stage"] == "proxy"
    assert res["_elapsed"] < TIMEOUT


def test_socks_stall_at_greeting_is_proxy_timeout(fake, certs, smtp):
    socks = fake(proxy_fakes.socks5(stall="greeting"))
    res = run(smtp.port, "socks5h://127.0.0.1:%d" % socks.port, ca_path=certs.ca_file)
    assert code(res) == "proxy_timeout" and res["failed_stage"] == "proxy"
    assert TIMEOUT - 0.1 <= res["_elapsed"] <= TIMEOUT + MARGIN


def test_destination_black_holed_behind_the_proxy_is_connect_timeout(fake, certs, smtp):
    socks = fake(proxy_fakes.socks5(stall="connect"))
    res = run(smtp.port, "socks5h://127.0.0.1:%d" % socks.port, ca_path=certs.ca_file)
    assert code(res) == "connect_timeout" and res["failed_stage"] == "proxy"
    assert "proxy accepted the request" in res["diagnosis"]["hint"]
    assert TIMEOUT - 0.1 <= res["_elapsed"] <= TIMEOUT + MARGIN


def test_socks_url_at_an_http_proxy(fake, certs, smtp):
    socks = fake(proxy_fakes.socks5(answer_http=True))
    res = run(smtp.port, "socks5h://127.0.0.1:%d" % socks.port, ca_path=certs.ca_file)
    assert code(res) == "proxy_protocol_error" and "use http://" in res["diagnosis"]["message"]


# ----------------------------------------------------------------------------- HTTP CONNECT

def test_http_connect_with_basic_auth_and_a_coalesced_banner(fake, certs, smtp):
    web = fake(proxy_fakes.http_connect(credentials=("probe", CANARY_PROXY_PASSWORD), coalesce_banner=True))
    res = run(smtp.port, "http://probe@127.0.0.1:%d" % web.port, CANARY_PROXY_PASSWORD, ca_path=certs.ca_file)
    assert res["ok"], res["diagnosis"]  # the banner that came with the 200 was not lost
    request = web.requests[0]
    assert request["target"] == "localhost:%d" % smtp.port and request["headers"]["Host"] == request["target"]
    assert CANARY_PROXY_PASSWORD not in repr(res)


@pytest.mark.parametrize("kwargs,url,password,expected", [
    ({"credentials": ("probe", "right")}, "http://127.0.0.1:{port}", None, "proxy_auth_required"),
    ({"credentials": ("probe", "right")}, "http://probe@127.0.0.1:{port}", "wrong", "proxy_auth_failed"),
    ({"status": 403, "reason": "Forbidden"}, "http://127.0.0.1:{port}", None, "proxy_denied"),
    ({"status": 502, "reason": "Bad Gateway"}, "http://127.0.0.1:{port}", None, "proxy_target_failed"),
    ({"status": 504, "reason": "Gateway Timeout"}, "http://127.0.0.1:{port}", None, "proxy_target_failed"),
    ({"status": 405, "reason": "Method Not Allowed"}, "http://127.0.0.1:{port}", None, "proxy_protocol_error"),
    ({"status": 302, "reason": "Found"}, "http://127.0.0.1:{port}", None, "proxy_protocol_error"),
])
def test_http_connect_failures(fake, certs, smtp, kwargs, url, password, expected):
    web = fake(proxy_fakes.http_connect(**kwargs))
    res = run(smtp.port, url.format(port=web.port), password, ca_path=certs.ca_file)
    assert code(res) == expected and res["failed_stage"] == "proxy"
    assert res["_elapsed"] < TIMEOUT


def test_hostile_proxy_echoing_the_credentials_is_scrubbed(fake, certs, smtp):
    web = fake(proxy_fakes.http_connect(status=403, reason="Denied", echo_headers=True))
    res = run(smtp.port, "http://probe@127.0.0.1:%d" % web.port, CANARY_PROXY_PASSWORD, ca_path=certs.ca_file)
    assert code(res) == "proxy_denied"
    assert "Denied Basic ********" in res["diagnosis"]["message"]  # the echo is there ...
    assert proxy._basic_credentials(proxy.parse_proxy("http://probe@x", CANARY_PROXY_PASSWORD)) not in repr(res)
    assert CANARY_PROXY_PASSWORD not in repr(res)  # ... without the secret


def test_http_stall_is_connect_timeout_within_the_deadline(fake, certs, smtp):
    web = fake(proxy_fakes.http_connect(stall=True))
    res = run(smtp.port, "http://127.0.0.1:%d" % web.port, ca_path=certs.ca_file)
    assert code(res) == "connect_timeout" and res["failed_stage"] == "proxy"
    assert TIMEOUT - 0.1 <= res["_elapsed"] <= TIMEOUT + MARGIN


def test_http_url_at_a_mail_server(certs, smtp):
    res = run(smtp.port, "http://127.0.0.1:%d" % smtp.port, ca_path=certs.ca_file)
    assert code(res) == "proxy_protocol_error" and "mail server's greeting" in res["diagnosis"]["message"]


def test_http_url_at_a_socks_proxy(fake, certs, smtp):
    socks = fake(proxy_fakes.socks5())
    res = run(smtp.port, "http://127.0.0.1:%d" % socks.port, ca_path=certs.ca_file)
    assert code(res) == "proxy_protocol_error" and "socks5h://" in res["diagnosis"]["message"]


# ----------------------------------------------------------------------------- reaching the proxy

def test_proxy_refused(smtp):
    with black_hole_port() as unused:
        pass
    res = run(smtp.port, "socks5h://127.0.0.1:%d" % unused)
    assert code(res) == "proxy_refused" and res["failed_stage"] == "connect"


def test_proxy_name_does_not_resolve(smtp):
    res = run(smtp.port, "socks5h://proxy.mailfleet.invalid:1080")
    assert code(res) == "proxy_unreachable" and res["failed_stage"] == "dns"
    assert res["_elapsed"] <= TIMEOUT + MARGIN


def test_proxy_black_holed(smtp):
    with black_hole_port() as port:
        res = run(smtp.port, "socks5h://127.0.0.1:%d" % port)
    assert code(res) == "proxy_timeout" and res["failed_stage"] == "connect"
    assert TIMEOUT - 0.1 <= res["_elapsed"] <= TIMEOUT + MARGIN


def test_one_call_many_endpoints_some_direct(fake, certs, smtp):
    socks = fake(proxy_fakes.socks5())
    eps = [{"name": "via", "host": "localhost", "port": smtp.port},
           {"name": "direct", "host": "localhost", "port": smtp.port, "proxy": "direct"}]
    results = probe.probe_endpoints(eps, {"timeout": TIMEOUT, "ca_path": certs.ca_file,
                                          "proxy": "socks5h://127.0.0.1:%d" % socks.port})
    assert [r["ok"] for r in results] == [True, True]
    assert results[0]["proxy"].startswith("socks5h://") and results[1]["proxy"] is None
    assert len(socks.requests) == 1
