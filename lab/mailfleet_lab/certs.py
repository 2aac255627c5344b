# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificates of the lab (trustme) and the TLS contexts built from them.

Files under ``<state_dir>/certs/`` (keys 0600):

- ``ca.pem`` / ``ca-key.pem``: the lab CA, kept across restarts of a lab on the same state dir, so a
  client that read the CA bundle once keeps trusting the lab after "lab down, then back". The bundle is
  also copied to the config's ``ca_file``.
- ``server.pem``: key + chain for ``localhost``, ``127.0.0.1``, ``::1``, the lab hostname, ``extra_names``.
- ``expired.pem``: same names, ``not_after`` in the past.
- ``wrong-host.pem``: only ``wrong.example.test``.
- ``self-signed.pem``: a self-signed certificate for the lab names (its issuer is in no bundle).
- ``client-<name>.pem`` / ``client-<name>.crt`` / ``client-<name>.key``: client certificates issued by the
  lab CA for each ``client_cert_names`` entry (for certificate-based connectors).
- ``app-<client_id>.crt`` / ``.key``: a self-signed RSA certificate for each app whose ``certificate`` is
  ``"lab"`` (certificate credentials: ``client_assertion`` at the token endpoint); kept across restarts.
"""

import datetime
import ipaddress
import os
import ssl
import warnings

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _write(path, data, mode=0o644):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _san(name):
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _self_signed(names):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailfleet lab (self-signed, not in any bundle)"),
        x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
    ])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([_san(name) for name in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem + cert.public_bytes(serialization.Encoding.PEM)


def server_names(config):
    names = ["localhost", "127.0.0.1", "::1"]
    for name in [config.get("hostname")] + list(config.get("extra_names") or []) + list(config.get("bind_extra") or []):
        if name and name not in names and name not in ("0.0.0.0", "::"):
            names.append(name)
    bind = config.get("bind")
    if bind and bind not in names and bind not in ("0.0.0.0", "::"):
        names.append(bind)
    return names


class LabCerts:
    """Create (or reuse) the lab's certificate files and build TLS contexts from them."""

    def __init__(self, config):
        self.config = config
        self.dir = os.path.join(config["state_dir"], "certs")
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        self.names = server_names(config)
        self.ca_file = config["ca_file"]
        self.paths = {}
        self.client_certs = {}
        self.app_certs = {}
        self._create()

    def _path(self, name):
        return os.path.join(self.dir, name)

    def _load_or_create_ca(self):
        cert_path, key_path = self._path("ca.pem"), self._path("ca-key.pem")
        if os.path.exists(cert_path) and os.path.exists(key_path):
            with open(cert_path, "rb") as handle:
                cert_pem = handle.read()
            with open(key_path, "rb") as handle:
                key_pem = handle.read()
            try:
                cert = x509.load_pem_x509_certificate(cert_pem)
                if cert.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30):
                    return trustme.CA.from_pem(cert_pem, key_pem)
            except ValueError:
                pass
        ca = trustme.CA(organization_name="mailfleet lab CA")
        _write(key_path, ca.private_key_pem.bytes(), 0o600)
        _write(cert_path, ca.cert_pem.bytes())
        return ca

    def _create(self):
        ca = self._load_or_create_ca()
        ca_pem = ca.cert_pem.bytes()
        os.makedirs(os.path.dirname(self.ca_file), exist_ok=True)
        _write(self.ca_file, ca_pem)
        now = datetime.datetime.now(datetime.timezone.utc)
        leaves = {
            "server": ca.issue_cert(*self.names, common_name=self.names[0]),
            "expired": ca.issue_cert(*self.names, common_name=self.names[0],
                                     not_before=now - datetime.timedelta(days=30),
                                     not_after=now - datetime.timedelta(days=1)),
            "wrong-host": ca.issue_cert("wrong.example.test", common_name="wrong.example.test"),
        }
        for name, leaf in leaves.items():
            path = self._path(name + ".pem")
            _write(path, leaf.private_key_and_cert_chain_pem.bytes(), 0o600)
            self.paths[name] = path
        path = self._path("self-signed.pem")
        _write(path, _self_signed(self.names), 0o600)
        self.paths["self-signed"] = path
        for name in self.config.get("client_cert_names") or []:
            leaf = ca.issue_cert(name, common_name=name)
            base = self._path("client-" + name)
            _write(base + ".key", leaf.private_key_pem.bytes(), 0o600)
            _write(base + ".crt", b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
            _write(base + ".pem", leaf.private_key_and_cert_chain_pem.bytes(), 0o600)
            self.client_certs[name] = {"cert": base + ".crt", "key": base + ".key", "pem": base + ".pem"}
        for client_id, app in (self.config.get("apps") or {}).items():
            if app.get("certificate") == "lab":
                self.app_certs[client_id] = self._app_cert(client_id, app.get("name") or client_id)

    def _app_cert(self, client_id, name):
        base = self._path("app-" + client_id)
        paths = {"cert": base + ".crt", "key": base + ".key"}
        if os.path.exists(paths["cert"]) and os.path.exists(paths["key"]):
            return paths
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=730))
            .sign(key, hashes.SHA256())
        )
        _write(paths["key"], key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()), 0o600)
        _write(paths["cert"], cert.public_bytes(serialization.Encoding.PEM))
        return paths

    def context(self, which="server", minimum="1.2", maximum=None, client_ca=False):
        """A server-side SSLContext with the named certificate.

        ``minimum`` / ``maximum``: "1.0", "1.1", "1.2", "1.3" (TLS versions below 1.2 need SECLEVEL=0 on
        OpenSSL 3). ``client_ca``: request (not require) a client certificate signed by the lab CA.
        """
        versions = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1,
                    "1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.paths[which])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = versions[minimum]
            if maximum:
                ctx.maximum_version = versions[maximum]
        if minimum in ("1.0", "1.1"):
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        if client_ca:
            ctx.load_verify_locations(cafile=self.ca_file)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        return ctx
