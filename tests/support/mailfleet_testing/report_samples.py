# Copyright (c) mailfleet engineers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sample host results shaped like smtp_check's result, for the fleet report's tests (unit, and the page in Chromium)."""


def endpoint(name, ok, code, host="smtp.lab.test", port=10587, security="starttls", stage="auth",
             failed_stage=None, message="", hint="", timings=None, warnings=None, days_left=300):
    tls = None
    if security in ("starttls", "tls") and (ok or code.startswith("cert_")):
        tls = {"version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
               "cert": {"subject": "CN=%s" % host, "issuer": "CN=mailfleet lab CA", "san": [host],
                        "not_after": "2027-09-01T00:00:00Z", "days_left": days_left}}
    return {
        "name": name, "host": host, "port": port, "security": security, "ok": ok, "address": "10.77.0.1",
        "stage": stage, "failed_stage": failed_stage,
        "diagnosis": {"code": code, "message": message or ("reachable" if ok else code), "hint": hint},
        "warnings": warnings or [], "timings_ms": timings or {"dns": 1, "connect": 2, "banner": 5, "ehlo": 1,
                                                              "starttls": 1, "tls": 8, "total": 18},
        "banner": "220 lab ESMTP", "extensions": ["STARTTLS"], "auth_mechanisms": ["LOGIN", "XOAUTH2"],
        "tls": tls, "reply": {"code": None, "enhanced_code": None, "text": None},
    }


PLAN = [{"name": "smtp", "host": "smtp.lab.test", "port": 10587, "security": "starttls"},
        {"name": "imap", "host": "smtp.lab.test", "port": 10993, "security": "tls"}]


def host_result(endpoints, required=("smtp",), **kw):
    res = {"profile": "lab", "microsoft": False, "required": list(required), "planned": PLAN,
           "endpoints": endpoints, "unreachable": False, "msg": "",
           "drift": {"checked": True, "changed": False, "files": []}, "basic_auth": []}
    res.update(kw)
    return res


def sample():
    """Six hosts: ok, ISP block (timeout), refused, bad certificate, unreachable by Ansible, never ran."""
    results = {
        "good": host_result([endpoint("smtp", True, "ok"), endpoint("imap", True, "ok", port=10993, security="tls",
                                                                    stage="tls", warnings=["certificate expires in 9 days"],
                                                                    days_left=9)],
                            basic_auth=[{"component": "relay", "profile": "microsoft365", "variable": "relay_auth_method",
                                         "fix": "set relay_auth_method=oauth2"}]),
        "blocked": host_result([endpoint("smtp", False, "connect_timeout", stage="dns", failed_stage="connect",
                                         message="no answer from 10.77.0.1:10587 within 5 s",
                                         hint="a firewall or the ISP drops this port; port 25 is commonly blocked, use 587",
                                         timings={"dns": 1, "connect": 5000, "total": 5001})],
                               drift={"checked": True, "changed": True, "files": ["/etc/postfix/main.cf"]}),
        "refused": host_result([endpoint("smtp", False, "connect_refused", stage="dns", failed_stage="connect",
                                         message="connection refused", hint="nothing listens there, or a firewall rejects",
                                         timings={"dns": 1, "connect": 1, "total": 2}),
                                endpoint("imap", False, "connect_refused", port=10993, security="tls", stage="dns",
                                         failed_stage="connect", message="refused", hint="h")]),
        "badcert": host_result([endpoint("smtp", False, "cert_untrusted", port=10608, stage="starttls", failed_stage="tls",
                                         message="certificate verify failed: self-signed certificate",
                                         hint="install the issuing CA or fix the server's chain <&>")]),
        "gone": {"profile": "lab", "required": ["smtp"], "planned": PLAN, "unreachable": True,
                 "msg": "Failed to connect to the host via ssh: Connection refused"},
    }
    hosts = ["good", "blocked", "refused", "badcert", "gone", "never"]
    return hosts, results
