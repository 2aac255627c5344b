# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""smtp_check's argument spec (plugins/module_utils/_probe/module_args.py) refuses the choices and exclusive secrets
that the probe engine's normalize_options/normalize_endpoint no longer check, and takes its choices from the probe's
constants (_probe/channel.py), with ansible-core's own validator (so it runs on every supported core)."""

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mailfleet.outlook.plugins.module_utils._probe import channel
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.module_args import argument_spec

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("given, words", [
    ({"tls_min_version": "1.4"}, ["tls_min_version", "1.4"]),
    ({"min_tls_version": "1.4"}, ["tls_min_version", "1.4"]),
    ({"tls_max_version": "2"}, ["tls_max_version", "2"]),
    ({"address_family": "ipx"}, ["address_family", "ipx"]),
    ({"auth": {"username": "a@b", "password": "x", "mechanism": "cram-md5"}}, ["mechanism", "cram-md5"]),
    ({"auth": {"username": "a@b", "password": "x", "oauth2_token": "y"}}, ["mutually exclusive", "password"]),
    ({"auth": {"username": "a@b", "password": "x", "oauth2": {"client_id": "c", "client_secret": "s"}}},
     ["mutually exclusive", "oauth2"]),
    ({"endpoints": [{"host": "h", "port": 25, "security": "ssl"}]}, ["security", "ssl"]),
    ({"endpoints": [{"host": "h", "port": 25, "protocol": "http"}]}, ["protocol", "http"]),
    ({"security": "ssl", "host": "h", "port": 25}, ["security", "ssl"]),
])
def test_the_spec_refuses_what_the_engine_no_longer_checks(given, words):
    """normalize_options/normalize_endpoint trust the spec for choices and exclusive secrets: the spec refuses them."""
    result = ArgumentSpecValidator(argument_spec()).validate(dict(given))
    text = " ".join(result.error_messages)
    assert result.error_messages, given
    for word in words:
        assert word in text, text


def test_the_specs_choices_are_the_probes_constants():
    spec = argument_spec()
    assert spec["tls_min_version"]["choices"] == spec["tls_max_version"]["choices"] == list(channel.TLS_VERSIONS)
    assert spec["address_family"]["choices"] == sorted(channel.ADDRESS_FAMILIES)
    assert spec["auth"]["options"]["mechanism"]["choices"] == list(channel.MECHANISMS)
    assert spec["security"]["choices"] == spec["endpoints"]["options"]["security"]["choices"] == list(channel.SECURITY_MODES)
    assert spec["endpoints"]["options"]["protocol"]["choices"] == list(channel.PROTOCOLS)
