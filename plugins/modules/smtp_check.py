#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: smtp_check
author: mailfleet engineers (@mailfleet)
version_added: 1.0.0
short_description: Probe SMTP (and IMAP/POP) endpoints from the target and say precisely why one fails
description:
  - Connects from the target host to one or many mail endpoints B(concurrently) (one thread per endpoint, at most 32
    at once) and walks the stages of a session, C(dns), C(connect), C(banner), C(ehlo), C(starttls), C(tls) and,
    when asked, C(auth) and C(send). Every endpoint gets a diagnosis from a fixed vocabulary (see RV(endpoints)),
    per-stage timings, the TLS version, cipher and certificate, and the server's last answer on failure.
  - Each probe has B(one deadline) of O(timeout) seconds for the whole probe; every network operation gets only the
    time that remains, so a black-holed port costs the timeout once, not once per stage. The module's total time is
    about the slowest probe, not the sum.
  - Microsoft 365 / Exchange Online answers are recognised by enhanced status code and text (SMTP AUTH disabled,
    Basic auth disabled, security defaults, SendAs denied, relay denied, throttling, legacy TLS, ...).
  - Credentials are never sent before TLS is established (unless O(auth.allow_plaintext=true)), and a STARTTLS
    endpoint never falls back to plain text.
  - Through a proxy (O(proxy), per endpoint O(endpoints[].proxy)) - SOCKS5 with or without user/password, remote
    name resolution, or an HTTP proxy's CONNECT - inside the same one deadline; the proxy is a stage of its own
    (C(proxy)) with its own diagnosis codes, and the mail session's TLS runs end to end inside the tunnel.
  - With O(auth), IMAP and POP endpoints log in too (LOGIN / USER+PASS or XOAUTH2, delegated or app-only), and
    O(auth.open_mailbox) proves the mailbox is readable (IMAP C(EXAMINE INBOX), POP C(STAT)).
  - Standard library only on the target (Python 3.8 or later).
options:
  endpoints:
    description:
      - The endpoints to probe. Mutually exclusive with O(host) and O(profile).
    type: list
    elements: dict
    suboptions:
      name:
        description: A label for the endpoint in the result; defaults to C(host:port).
        type: str
      host:
        description: Host name or IP address.
        type: str
        required: true
      port:
        description: TCP port.
        type: int
        required: true
      security:
        description:
          - C(starttls) (plain greeting, then STARTTLS; required), C(tls) (implicit TLS from the first byte), or
            C(none) (no TLS at all).
          - Defaults to C(starttls) for SMTP and C(tls) for IMAP and POP.
        type: str
        choices: [starttls, tls, none]
      protocol:
        description:
          - What speaks on the port. IMAP and POP endpoints get a greeting, CAPABILITY/CAPA and TLS check, and with
            O(auth) a login (see O(auth)).
        type: str
        choices: [smtp, imap, pop]
        default: smtp
      proxy:
        description:
          - This endpoint's proxy URL (same forms as O(proxy)), or C(direct) to bypass O(proxy) for this endpoint.
          - Unset - the call's O(proxy).
        type: str
      proxy_password:
        description:
          - The password of this endpoint's own O(endpoints[].proxy) user. The call's O(proxy_password) is only ever
            sent to the call's O(proxy).
        type: str
      auth:
        description: Set to V(false) to skip the login (O(auth)) on this endpoint.
        type: bool
        default: true
  host:
    description: A single endpoint's host (with O(port) and O(security)). Mutually exclusive with O(endpoints), O(profile).
    type: str
  port:
    description: The single endpoint's port. Required with O(host).
    type: int
  security:
    description: The single endpoint's security.
    type: str
    choices: [starttls, tls, none]
    default: starttls
  profile:
    description:
      - Probe a catalog profile's SMTP submission endpoint (for example C(microsoft365), C(gcc_high), C(lab)); see the
        C(mailfleet.outlook.mail_settings) lookup for the profiles. Mutually exclusive with O(endpoints) and O(host).
      - The profile's C(ca_file), C(tls_min_version) and C(username) are used unless the options here say otherwise.
    type: str
  profile_overrides:
    description:
      - Per-host settings applied to O(profile) and validated by the collection's settings model (the keys of the
        C(mailfleet.outlook.mail_settings) lookup, for example C(smtp_host), C(smtp_port), C(tenant), C(username)).
    type: dict
  include_incoming:
    description: With O(profile), also probe the profile's IMAP and POP endpoints (greeting, CAPABILITY and TLS).
    type: bool
    default: false
  timeout:
    description:
      - Seconds for the whole probe of one endpoint (all stages together), the token request of O(auth.oauth2)
        included (DNS, connect, TLS, token, SMTP).
    type: float
    default: 10
  validate_certs:
    description:
      - Verify the server certificate (chain, host name, dates). When false, problems become warnings.
    type: bool
    default: true
  tls_max_version:
    description:
      - Highest TLS version offered (default - the highest the target's OpenSSL supports).
      - Set it (with O(tls_min_version)) to C(1.1) to rehearse what a server tells an old client, for example
        Microsoft's C(421 4.7.66) (diagnosis C(legacy_tls_rejected)).
    type: str
    choices: ['1.0', '1.1', '1.2', '1.3']
    aliases: [max_tls_version]
  ehlo_name:
    description:
      - Name sent with EHLO. Defaults to this host's FQDN, computed without any DNS lookup (host name, then
        C(/etc/hosts), then C(/etc/hostname)).
    type: str
  address_family:
    description: Which addresses of a host name to connect to (through a proxy - of the proxy's name).
    type: str
    choices: [any, ipv4, ipv6]
    default: any
  proxy:
    description:
      - Reach every endpoint through this proxy (an endpoint's O(endpoints[].proxy) wins), for networks that allow
        outbound mail ports only through a proxy.
      - V(socks5h://[user@]host[:port]) - SOCKS5 (RFC 1928), the proxy resolves the mail server's name (use this
        where the host has no outside DNS). V(socks5://...) - SOCKS5, this host resolves the name. Default port 1080.
      - V(http://[user@]host[:port]) - an HTTP proxy's CONNECT method with Basic proxy authentication. Default port
        3128. Many web proxies allow CONNECT only to port 443 (diagnosis C(proxy_denied)).
      - The user goes in the URL, its password in O(proxy_password); a URL with a password is refused. Results show
        the proxy as C(scheme://host:port) (RV(endpoints[].proxy)).
      - The environment's C(all_proxy) / C(https_proxy) are not read for the mail endpoints. The token request of
        O(auth.oauth2) is HTTPS and uses the host's C(https_proxy) environment variable, like other HTTPS clients.
    type: str
  proxy_password:
    description: Password of the O(proxy) user (SOCKS5 username/password, RFC 1929, or HTTP Basic). Never shown.
    type: str
  auth:
    description:
      - Authenticate after TLS and stop (no mail is sent unless O(send) is given).
      - SMTP endpoints use SMTP AUTH. IMAP endpoints use C(AUTHENTICATE XOAUTH2) with a token, else C(LOGIN); POP
        endpoints C(AUTH XOAUTH2), else C(USER)/C(PASS). O(endpoints[].auth=false) skips an endpoint's login.
      - Give O(auth.password), O(auth.oauth2_token), or O(auth.oauth2) (client credentials, the module fetches a token).
      - One token serves every protocol when it carries their scopes (delegated C(SMTP.Send), C(IMAP.AccessAsUser.All),
        C(POP.AccessAsUser.All)) or roles (app-only C(SMTP.SendAsApp), C(IMAP.AccessAsApp), C(POP.AccessAsApp)).
    type: dict
    suboptions:
      username:
        description: Login name; for Microsoft 365 the mailbox address. Defaults to the profile's C(username).
        type: str
      password:
        description: Password (Basic auth; AUTH LOGIN or PLAIN).
        type: str
      oauth2_token:
        description: An OAuth2 access token for XOAUTH2.
        type: str
      oauth2:
        description: Client credentials to fetch an app-only token (SMTP.SendAsApp) before probing.
        type: dict
        suboptions:
          tenant:
            description: Tenant ID or domain; with the profile's authority it gives the token URL.
            type: str
          client_id:
            description: Application (client) ID.
            type: str
            required: true
          client_secret:
            description: Client secret value. Give it, or O(auth.oauth2.client_certificate) and O(auth.oauth2.client_key).
            type: str
          client_certificate:
            description:
              - PEM certificate file on the target (a certificate credential of the app registration). The module
                signs a client assertion (RS256) with O(auth.oauth2.client_key) using the C(openssl) command.
            type: path
          client_key:
            description: PEM private key file (unencrypted) of O(auth.oauth2.client_certificate) on the target.
            type: path
          token_url:
            description: Token endpoint URL; defaults to the profile's (or C(microsoft365)'s) for O(auth.oauth2.tenant).
            type: str
          scope:
            description: Scope; defaults to the profile's app scope (C(https://outlook.office365.com/.default) worldwide).
            type: str
          ca_file:
            description: CA bundle for the token endpoint; defaults to O(ca_file).
            type: path
            aliases: [ca_path]
      mechanism:
        description:
          - SASL mechanism. C(auto) uses XOAUTH2 with a token, else PLAIN when offered, else LOGIN.
          - For IMAP and POP, C(login) and C(plain) both mean the protocol's password login (IMAP C(LOGIN), POP
            C(USER)/C(PASS)).
        type: str
        choices: [auto, login, plain, xoauth2]
        default: auto
      open_mailbox:
        description:
          - After an IMAP or POP login, prove the mailbox is readable - IMAP C(EXAMINE INBOX) (the read-only SELECT,
            it changes no flag), POP C(STAT). Stage C(mailbox); RV(endpoints[].mailbox) has the message count.
        type: bool
        default: false
      allow_plaintext:
        description: Allow sending credentials on a connection without TLS (O(security=none)). Never for production.
        type: bool
        default: false
  send:
    description:
      - Send one test message (Date, Message-ID, From, To, Subject; the body says it is a mailfleet test message)
        through every SMTP endpoint. Skipped in check mode. Reports RV(changed=true) when a message was accepted.
    type: dict
    suboptions:
      sender:
        description: Envelope sender and From address; defaults to O(auth.username).
        type: str
      recipients:
        description: Recipient addresses; default the sender.
        type: list
        elements: str
      subject:
        description: Subject line.
        type: str
        default: mailfleet test message
  cert_expiry_warn_days:
    description: A certificate that expires within this many days is a warning (not a failure).
    type: int
    default: 21
  fail_on_error:
    description: Fail the task when any endpoint is not OK. With false, read RV(ok) and RV(endpoints) instead.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: The probe changes nothing; only O(send) is skipped in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - mailfleet.outlook.tls
notes:
  - Heuristics. On a plain/STARTTLS endpoint the probe waits for the greeting's first byte for half of the remaining
    time; if none comes, it tries a TLS handshake on a second connection. Success means C(plain_on_tls_port),
    no answer means C(banner_timeout) (tarpit). A server that delays its greeting beyond half the timeout is
    therefore reported as C(banner_timeout).
  - On a certificate failure the probe fetches the certificate once more without verification (if time remains) so
    that RV(endpoints[].tls.cert) shows what the server presents.
  - Secrets (O(auth.password), O(auth.oauth2_token), O(auth.oauth2.client_secret), fetched tokens) are never part of
    the result; server answers are scrubbed of them in any letter case, percent-, JSON- or HTML-encoded, and of their
    base64 forms. The server's replies to AUTH are never shown verbatim - words that are not plain words, numbers or
    URLs show as C([withheld]).
  - The token of O(auth.oauth2) is requested at the C(auth) stage, inside the probe's deadline, once for all
    endpoints; the token endpoint's redirects are refused, never followed.
  - See C(docs/smtp_check.md) for the stages, the diagnosis table and the lab.
seealso:
  - plugin: mailfleet.outlook.mail_settings
    plugin_type: lookup
    description: The catalog profiles and the settings model.
"""

EXAMPLES = r"""
- name: Can this host reach Microsoft 365 submission (587, STARTTLS, TLS 1.2+)?
  mailfleet.outlook.smtp_check:
    profile: microsoft365

- name: Probe several endpoints at once, report without failing
  mailfleet.outlook.smtp_check:
    endpoints:
      - {name: m365, host: smtp.office365.com, port: 587, security: starttls}
      - {name: mx, host: contoso-com.mail.protection.outlook.com, port: 25, security: starttls}
      - {name: imap, host: outlook.office365.com, port: 993, security: tls, protocol: imap}
    timeout: 8
    fail_on_error: false
  register: probe

- name: Authenticate with an app-only token fetched with client credentials (no mail sent)
  mailfleet.outlook.smtp_check:
    profile: microsoft365
    auth:
      username: scanner@contoso.com
      oauth2:
        tenant: contoso.onmicrosoft.com
        client_id: "{{ relay_client_id }}"
        client_secret: "{{ vault_relay_client_secret }}"

- name: From a site whose firewall lets mail out only through its SOCKS proxy (the proxy resolves the names)
  mailfleet.outlook.smtp_check:
    profile: microsoft365
    include_incoming: true
    proxy: socks5h://mailprobe@proxy.branch.example:1080
    proxy_password: "{{ vault_branch_proxy_password }}"

- name: Can the scanner's app registration read its mailbox over IMAP (app-only, IMAP.AccessAsApp)?
  mailfleet.outlook.smtp_check:
    endpoints:
      - {name: imap, host: outlook.office365.com, port: 993, security: tls, protocol: imap}
    auth:
      username: scanner@contoso.com
      open_mailbox: true
      oauth2:
        tenant: contoso.onmicrosoft.com
        client_id: "{{ scanner_client_id }}"
        client_secret: "{{ vault_scanner_client_secret }}"

- name: Send one test message through the bundled lab
  mailfleet.outlook.smtp_check:
    profile: lab
    auth:
      username: alice@contoso.test
      password: "{{ vault_lab_password }}"
    send:
      recipients: [bob@contoso.test]
"""

RETURN = r"""
ok:
  description: True when every endpoint is OK.
  returned: always
  type: bool
changed:
  description: True only when O(send) delivered a message (never in check mode).
  returned: always
  type: bool
endpoints:
  description: One entry per endpoint, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The endpoint's label.
      type: str
    host:
      description: Host as given.
      type: str
    port:
      description: Port.
      type: int
    security:
      description: C(starttls), C(tls) or C(none).
      type: str
    protocol:
      description: C(smtp), C(imap) or C(pop).
      type: str
    ok:
      description: True when every stage passed.
      type: bool
    address:
      description: The IP address connected to - the proxy's through a proxy (null when DNS or every connect failed).
      type: str
    stage:
      description:
        - The last stage passed, one of C(dns), C(connect), C(proxy), C(banner), C(ehlo), C(starttls), C(tls), C(auth),
          C(mailbox), C(send) (null when even DNS failed).
        - Order for C(starttls) - dns, connect, banner, ehlo, starttls, tls (the handshake, certificate checks and the
          EHLO over TLS), auth, send. For C(tls) - dns, connect, tls, banner, ehlo, auth, send. For C(none) - dns,
          connect, banner, ehlo, auth, send. IMAP/POP - the greeting is C(banner), CAPABILITY/CAPA is C(ehlo),
          STARTTLS/STLS is C(starttls), the login C(auth), EXAMINE INBOX / STAT C(mailbox).
        - Through a proxy, C(dns) resolves the proxy's name (with C(socks5://) the endpoint's too), C(connect) is the
          TCP connection to the proxy and C(proxy) the tunnel (SOCKS5 or CONNECT) to the endpoint.
      type: str
      sample: tls
    failed_stage:
      description: The stage that failed (null when OK).
      type: str
      sample: auth
    diagnosis:
      description:
        - C(code), C(message) and C(hint) (what to do). The codes are a fixed vocabulary.
        - C(ok) - every stage passed.
        - C(dns_error) - the name does not resolve (or the resolver did not answer in time).
        - C(connect_timeout) - no answer to the TCP connect; a firewall or the ISP drops the port (port 25 is
          commonly blocked, use 587).
        - C(connect_refused) - nothing listens, or a firewall rejects.
        - C(network_unreachable) - no route to the address (network or host unreachable).
        - C(banner_timeout) - connected but no greeting (or no answer to the TLS ClientHello) within the timeout; a
          tarpit.
        - C(bad_banner) - not a mail greeting, or the server refuses the session in its greeting.
        - C(starttls_not_offered) - EHLO lacks STARTTLS; possible downgrade by a middlebox; never falls back.
        - C(tls_handshake_failed) - the handshake failed (closed, cipher mismatch, STARTTLS refused).
        - C(tls_on_plain_port) - implicit TLS against a plain SMTP port (the 465/"SSL" guide mistake for Microsoft 365).
        - C(plain_on_tls_port) - plain/STARTTLS against an implicit-TLS port.
        - C(tls_version_too_old) - the server only speaks TLS older than O(tls_min_version).
        - C(legacy_tls_rejected) - the server refused the negotiated TLS 1.0/1.1 (Microsoft 421 4.7.66).
        - C(cert_untrusted) - the certificate does not chain to a trusted CA.
        - C(cert_hostname_mismatch) - the certificate is not valid for the host name.
        - C(cert_expired) - the certificate has expired (or is not valid yet).
        - C(auth_not_offered) - AUTH (or the requested mechanism) is not offered on this connection.
        - C(auth_failed) - authentication failed (Microsoft 535 5.7.3 - bad token, app permission, MFA).
        - C(smtp_auth_disabled) - SMTP AUTH is disabled for the tenant or mailbox (535 5.7.139).
        - C(basic_auth_disabled) - Basic auth disabled or removed (535 5.7.139, 550 5.7.30).
        - C(security_defaults) - blocked by the tenant's security defaults (535 5.7.139).
        - C(bad_credentials) - wrong user name or password (535 5.7.139, 535 5.7.8).
        - C(policy_blocked) - Conditional Access or mailbox policy (535 5.7.139), or a sender blocked for spam (550 5.1.8).
        - C(send_as_denied) - the mailbox may not send as this sender (5.7.60, 554 5.2.252, 5.2.0 SendAsDenied).
        - C(not_authenticated) - mail refused without authentication (530 5.7.57).
        - C(relay_denied) - relaying refused (550 5.7.64 TenantAttribution, 550 5.7.68 direct send blocked).
        - C(ip_blocked) - traffic from this IP refused (550 5.7.708).
        - C(throttled) - busy, rate or quota limit (451 4.7.500, 5.2.2 quota).
        - C(timeout) - the server stopped answering, or answered too slowly, before the deadline.
        - C(connection_closed) - the server closed the connection unexpectedly.
        - C(protocol_error) - an answer that violates the protocol or is unexpected.
        - C(tenant_blocked) - the tenant is blocked from sending (550 5.7.705 threshold, 5.7.750 unregistered domains).
        - C(mailbox_login_refused) - IMAP C(LOGIN) / POP C(USER)/C(PASS) refused (Exchange Online retired Basic auth for
          IMAP and POP; a right password gets the same answer).
        - C(mailbox_not_connected) - logged in, but the mailbox cannot be opened (IMAP C(User is authenticated but not
          connected) - an app-only token without the mailbox permission).
        - C(proxy_unreachable) - the proxy's name does not resolve or there is no route to it.
        - C(proxy_refused) - the TCP connection to the proxy was refused.
        - C(proxy_timeout) - the proxy did not answer in time.
        - C(proxy_auth_required) - the proxy wants authentication that was not offered (O(proxy) without user).
        - C(proxy_auth_failed) - the proxy rejected the proxy user or O(proxy_password).
        - C(proxy_denied) - the proxy's rules refuse this host or destination (SOCKS reply 2, HTTP 403).
        - C(proxy_target_failed) - the proxy could not connect to the endpoint (SOCKS replies 1, 3-6; HTTP 500, 502-504).
        - C(proxy_protocol_error) - the proxy does not speak the URL's protocol.
        - A destination that never answers the proxy is C(connect_timeout) with C(failed_stage=proxy).
        - The throttling code also covers 550 5.2.251-5.2.255 (continuous error throttling) and 550 5.7.233 (the
          tenant's outbound limit); C(smtp_auth_disabled) tells the tenant's switch from the mailbox's in its hint.
      type: dict
      sample: {code: tls_on_plain_port, message: "Implicit TLS was attempted ...", hint: "Use security: starttls ..."}
    warnings:
      description: Problems that do not fail the probe (certificate expiring within O(cert_expiry_warn_days), no TLS,
        verification off, AUTH before STARTTLS, send skipped in check mode, TLS older than 1.2).
      type: list
      elements: str
    timings_ms:
      description:
        - Milliseconds per stage (keys as in RV(endpoints[].stage), C(proxy) for the tunnel), C(ehlo_tls) for the EHLO
          after STARTTLS, C(token) for the token request of O(auth.oauth2) (part of C(auth)), and C(total) for the whole
          probe (at most O(timeout) plus a polite QUIT of at most one second).
      type: dict
      sample: {dns: 1, connect: 2, banner: 40, ehlo: 38, starttls: 37, tls: 80, ehlo_tls: 39, total: 240}
    banner:
      description: The greeting text (without the reply code for SMTP), or the text a plain server sent to a TLS
        ClientHello.
      type: str
    extensions:
      description: EHLO keywords and parameters from the last EHLO (after TLS when TLS was used); IMAP CAPABILITY and
        POP CAPA likewise.
      type: dict
      sample: {SIZE: "157286400", AUTH: "LOGIN XOAUTH2", "8BITMIME": "", PIPELINING: ""}
    auth_mechanisms:
      description: SASL mechanisms advertised after TLS (upper case).
      type: list
      elements: str
      sample: [LOGIN, XOAUTH2]
    auth_mechanism:
      description: The mechanism used when O(auth) was given and AUTH was attempted (IMAP C(LOGIN), POP C(USER)).
      type: str
      returned: when AUTH was attempted
    proxy:
      description: The proxy the endpoint was probed through, as C(scheme://host:port) (null - direct).
      type: str
      sample: socks5h://proxy.corp.example:1080
    mailbox:
      description: With O(auth.open_mailbox) on IMAP/POP - C(messages) (IMAP also C(name) and C(read_only); POP C(octets)).
      type: dict
      returned: when the mailbox was opened
      sample: {name: INBOX, messages: 12, read_only: true}
    tls:
      description: The TLS session (null without TLS). C(verified) is false when O(validate_certs=false) or when the
        certificate was fetched after a verification failure.
      type: dict
      contains:
        version:
          description: Negotiated protocol version.
          type: str
          sample: TLSv1.3
        cipher:
          description: Negotiated cipher.
          type: str
        verified:
          description: Whether this certificate was verified.
          type: bool
        cert:
          description: C(subject), C(issuer), C(san) (list of names and addresses), C(not_before), C(not_after) (ISO 8601
            UTC) and C(days_left) (negative when expired).
          type: dict
    reply:
      description: The server's last answer (C(code), C(enhanced_code), C(text)) when the probe failed.
      type: dict
      sample: {code: 535, enhanced_code: "5.7.139", text: "5.7.139 Authentication unsuccessful, basic authentication is disabled."}
    message_id:
      description: Message-ID of the test message.
      type: str
      returned: when a message was sent
    sent:
      description: True when the test message was accepted.
      type: bool
      returned: when a message was sent
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.engine import probe_endpoints
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.module_args import (
    ENGINE_OPTIONS, argument_spec, endpoints_to_probe, profile_settings)
from ansible_collections.mailfleet.outlook.plugins.module_utils._probe.options import TokenSource


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[["endpoints", "host", "profile"]],
        required_one_of=[["endpoints", "host", "profile"]],
        required_together=[["host", "port"]],
        required_by={"profile_overrides": "profile"},
        supports_check_mode=True,
    )
    params = module.params
    settings = None
    auth_params = params.get("auth") or {}
    if params.get("profile") or auth_params.get("oauth2"):
        try:
            settings = profile_settings(params)
        except ValueError as err:
            module.fail_json(msg=str(err))
    from_profile = settings if params.get("profile") else None

    options = dict((key, params.get(param)) for key, param in ENGINE_OPTIONS.items())
    options["check_mode"] = module.check_mode
    if from_profile:
        if not options["ca_path"]:
            options["ca_path"] = from_profile.get("ca_file")
        if not options["min_tls_version"]:
            options["min_tls_version"] = from_profile.get("tls_min_version")
    if not options["min_tls_version"]:
        options["min_tls_version"] = "1.2"

    auth = None
    token_source = None
    if params.get("auth"):
        auth = dict((k, v) for k, v in auth_params.items() if v is not None and k != "oauth2")
        if not auth.get("username") and from_profile:
            auth["username"] = from_profile.get("username")
        oauth2 = auth_params.get("oauth2")
        if oauth2:
            if oauth2.get("client_secret"):
                module.no_log_values.add(oauth2["client_secret"])
            token_url = oauth2.get("token_url") or ((settings or {}).get("oauth2") or {}).get("token_url")
            scope = oauth2.get("scope") or ((settings or {}).get("oauth2") or {}).get("scope_app")
            if not scope:
                module.fail_json(msg="auth.oauth2: profile %s has no app-only (client credentials) route: %s. Fix: give "
                                     "auth.oauth2_token (a delegated token), or auth.oauth2.scope for another token endpoint"
                                     % (params.get("profile"), ((settings or {}).get("oauth2") or {}).get("app_only_note")))
            if not token_url:
                module.fail_json(msg="auth.oauth2 needs token_url, or tenant (with profile, or microsoft365 by default)")
            # fetched by the probe at its auth stage, inside its one deadline (timeout covers the token request too)
            token_source = TokenSource(token_url, oauth2["client_id"], oauth2.get("client_secret"), scope,
                                       ca_file=oauth2.get("ca_file") or options["ca_path"],
                                       validate_certs=params["validate_certs"],
                                       client_certificate=oauth2.get("client_certificate"),
                                       client_key=oauth2.get("client_key"))
            auth["token_source"] = token_source
        options["auth"] = auth
    if params.get("send"):
        options["send"] = dict((k, v) for k, v in params["send"].items() if v is not None)

    try:
        results = probe_endpoints(endpoints_to_probe(params, settings), options)
    except ValueError as err:
        module.fail_json(msg=str(err))
    if token_source is not None and token_source.token:
        module.no_log_values.add(token_source.token)

    all_ok = all(res["ok"] for res in results)
    changed = any(res.get("sent") for res in results)
    output = dict(changed=changed, ok=all_ok, endpoints=results)
    if not all_ok and params["fail_on_error"]:
        failed = ["%s: %s (stage %s) - %s" % (res["name"], res["diagnosis"]["code"], res["failed_stage"],
                                              res["diagnosis"]["message"])
                  for res in results if not res["ok"]]
        module.fail_json(msg="smtp_check: %d of %d endpoint(s) failed: %s" % (len(failed), len(results), "; ".join(failed)),
                         **output)
    module.exit_json(**output)


if __name__ == "__main__":
    main()
