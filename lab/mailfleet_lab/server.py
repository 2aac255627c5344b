# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start every listener of the lab, write ``state.json`` once all listen, run until SIGTERM / SIGINT."""

import asyncio
import errno
import fcntl
import functools
import json
import logging
import os
import signal
import socket
import time

from . import __version__
from .certs import LabCerts
from .config import LAB_PORTS, redacted
from .core import LOG, Lab
from .faults import CloseProtocol, GarbageProtocol, TarpitProtocol, serve_imap, serve_pop
from .http import AdminEndpoint, TokenEndpoint, serve_http
from .smtp import LabSMTP

STATE_FILE = "state.json"


def setup_logging(config, verbose=False):
    """Log to ``log_path`` (and stderr). The lab never logs passwords, client secrets or tokens."""
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    for handler in list(LOG.handlers):
        LOG.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    os.makedirs(os.path.dirname(config["log_path"]), exist_ok=True)
    fd = os.open(config["log_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    file_handler = logging.FileHandler(config["log_path"], encoding="utf-8")
    file_handler.setFormatter(formatter)
    LOG.addHandler(file_handler)
    stream = logging.StreamHandler()
    stream.setFormatter(formatter)
    stream.setLevel(logging.INFO if verbose else logging.WARNING)
    LOG.addHandler(stream)
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.setLevel(logging.CRITICAL)


class LabServer:
    """All listeners of one lab."""

    def __init__(self, config):
        self.config = config
        self.lab = Lab(config)
        self.servers = []
        self.listeners = {}
        self.stop_event = None
        self.certs = None
        self.token_endpoint = None
        self.admin = None
        self._lock = None

    def addresses(self):
        addresses = [self.config.get("bind") or "127.0.0.1"]
        for address in self.config.get("bind_extra") or []:
            if address not in addresses:
                addresses.append(address)
        return addresses

    def factories(self):
        """name -> (kind, factory, ssl context for the listening socket or None)."""
        lab, certs = self.lab, self.certs
        smtp = functools.partial(LabSMTP, lab)
        delay = float(self.config.get("slow_byte_delay", 0.1))
        tarpit_seconds = float(self.config.get("tarpit_seconds", 300))
        ctx = {
            "server": certs.context(),
            "connector": certs.context(client_ca=True),
            "expired": certs.context("expired"),
            "wrong-host": certs.context("wrong-host"),
            "self-signed": certs.context("self-signed"),
            "legacy": certs.context(minimum="1.0"),
            "old-only": certs.context(minimum="1.0", maximum="1.1"),
        }
        return {
            "submission": ("protocol", lambda: smtp("submission", tls_context=ctx["server"]), None),
            "connector": ("protocol", lambda: smtp("connector", mode="connector", tls_context=ctx["connector"]), None),
            "token": ("stream", functools.partial(serve_http, handler=self.token_endpoint, name="token"),
                      ctx["server"]),
            "admin": ("stream", functools.partial(serve_http, handler=self.admin, name="admin"), None),
            "imap": ("stream", functools.partial(serve_imap, lab), ctx["server"]),
            "pop": ("stream", functools.partial(serve_pop, lab), ctx["server"]),
            "tarpit": ("protocol", lambda: TarpitProtocol(tarpit_seconds), None),
            "close": ("protocol", CloseProtocol, None),
            "garbage_banner": ("protocol", GarbageProtocol, None),
            "no_starttls": ("protocol", lambda: smtp("no_starttls"), None),
            "starttls_drop": ("protocol", lambda: smtp("starttls_drop", tls_context=ctx["server"], starttls_drop=True),
                              None),
            "cert_expired": ("protocol", lambda: smtp("cert_expired", tls_context=ctx["expired"]), None),
            "cert_wrong_host": ("protocol", lambda: smtp("cert_wrong_host", tls_context=ctx["wrong-host"]), None),
            "cert_self_signed": ("protocol", lambda: smtp("cert_self_signed", tls_context=ctx["self-signed"]), None),
            "legacy_tls": ("protocol", lambda: smtp("legacy_tls", tls_context=ctx["legacy"], legacy_reject=True), None),
            "implicit_tls": ("protocol", lambda: smtp("implicit_tls", tls_context=ctx["server"], implicit_tls=True),
                             ctx["server"]),
            "slow": ("protocol", lambda: smtp("slow", tls_context=ctx["server"], byte_delay=delay), None),
            "tls_old_only": ("protocol", lambda: smtp("tls_old_only", tls_context=ctx["old-only"]), None),
        }

    async def _listen(self, kind, factory, ssl_context, host, port):
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        if kind == "stream":
            server = await asyncio.start_server(factory, host=host, port=port, ssl=ssl_context, family=family,
                                                reuse_address=True, ssl_handshake_timeout=30 if ssl_context else None)
        else:
            server = await loop.create_server(factory, host=host, port=port, ssl=ssl_context, family=family,
                                              reuse_address=True, ssl_handshake_timeout=30 if ssl_context else None)
        self.servers.append(server)
        return server, server.sockets[0].getsockname()[1]

    async def listener_down(self, name):
        """Close every socket of listener ``name``: new connections are refused until ``listener_up``."""
        servers = self.listeners[name]
        for server in servers:
            server.close()
            self.servers.remove(server)
        for server in servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 2)
            except asyncio.TimeoutError:
                pass
        self.listeners[name] = []

    async def listener_up(self, name):
        """Listen again for ``name`` on the port it had (no-op if it listens)."""
        if self.listeners[name]:
            return
        kind, factory, ssl_context = self.factories()[name]
        hosts = [self.config.get("admin_bind") or "127.0.0.1"] if name == "admin" else self.addresses()
        for host in hosts:
            server, dummy = await self._listen(kind, factory, ssl_context, host, self.lab.ports[name])
            self.listeners[name].append(server)

    async def start(self):
        os.makedirs(self.config["state_dir"], exist_ok=True)
        state_path = os.path.join(self.config["state_dir"], STATE_FILE)
        self._lock = open(os.path.join(self.config["state_dir"], "lab.lock"), "w", encoding="utf-8")  # pylint: disable=consider-using-with
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            raise OSError(errno.EBUSY, "state dir %s is in use by another lab" % self.config["state_dir"]) from error
        if os.path.exists(state_path):
            os.unlink(state_path)
        self.certs = LabCerts(self.config)
        self.lab.certs = self.certs
        self.token_endpoint = TokenEndpoint(self.lab)
        self.admin = AdminEndpoint(self.lab, self.token_endpoint, self.state, listeners=self)
        factories = self.factories()
        disabled = set(self.config.get("disabled") or [])
        addresses = self.addresses()
        for name in list(LAB_PORTS) + ["admin"]:
            if name in disabled:
                continue
            kind, factory, ssl_context = factories[name]
            port = self.config["ports"][name]
            hosts = [self.config.get("admin_bind") or "127.0.0.1"] if name == "admin" else addresses
            self.listeners[name] = []
            for host in hosts:
                try:
                    server, port = await self._listen(kind, factory, ssl_context, host, port)
                    self.listeners[name].append(server)
                except OSError as error:
                    raise OSError(error.errno, "cannot listen for %s on [%s]:%s: %s" % (
                        name, host, port, error.strerror)) from error
            self.lab.ports[name] = port
        self.write_state(state_path)
        LOG.info("lab %s ready: pid %d, %s", __version__, os.getpid(), json.dumps(self.lab.ports, sort_keys=True))

    def state(self):
        ports = dict(self.lab.ports)
        tenant = self.config["tenant"]
        host = self.config.get("hostname") or "localhost"
        admin_host = self.config.get("admin_bind") or "127.0.0.1"
        return {
            "version": __version__,
            "pid": os.getpid(),
            "started": self.lab.started,
            "host": host,
            "bind": self.addresses(),
            "ports": ports,
            "ca_file": self.config["ca_file"],
            "store_path": self.config["store_path"],
            "log_path": self.config["log_path"],
            "state_dir": self.config["state_dir"],
            "tenant_id": tenant["id"],
            "tenant_domain": tenant["domains"][0] if tenant["domains"] else None,
            "token_url": ("https://%s:%d/%s/oauth2/v2.0/token" % (host, ports["token"], tenant["id"])
                          if "token" in ports else None),
            "admin_url": ("http://%s:%d" % ("[%s]" % admin_host if ":" in admin_host else admin_host, ports["admin"])
                          if "admin" in ports else None),
            "client_certs": self.certs.client_certs if self.certs else {},
            "app_certs": self.certs.app_certs if self.certs else {},
            "certs_dir": self.certs.dir if self.certs else None,
        }

    def write_state(self, path):
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.state(), handle, indent=2, sort_keys=True)
        os.replace(tmp, path)

    async def close(self):
        for server in self.servers:
            server.close()
        for server in self.servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 2)
            except asyncio.TimeoutError:
                pass
        self.servers = []
        state_path = os.path.join(self.config["state_dir"], STATE_FILE)
        try:
            with open(state_path, "r", encoding="utf-8") as handle:
                if json.load(handle).get("pid") == os.getpid():
                    os.unlink(state_path)
        except (OSError, ValueError):
            pass

    async def run(self):
        self.stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop_event.set)
        await self.start()
        try:
            await self.stop_event.wait()
        finally:
            LOG.info("lab stopping")
            await self.close()


def run(config, verbose=False):
    os.makedirs(config["state_dir"], exist_ok=True)
    setup_logging(config, verbose)
    LOG.info("lab starting, config: %s", json.dumps(redacted(config), sort_keys=True))
    started = time.monotonic()
    server = LabServer(config)
    asyncio.run(server.run())
    LOG.info("lab stopped after %.1fs", time.monotonic() - started)
