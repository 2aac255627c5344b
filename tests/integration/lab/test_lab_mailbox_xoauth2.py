"""The lab's IMAP and POP listeners: XOAUTH2 with an initial response (SASL-IR) and after a continuation."""

import base64
import imaplib
import poplib
import ssl

import pytest

pytestmark = pytest.mark.timeout(60)


def _xoauth2(user, token):
    return "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)


def _context(lab):
    return ssl.create_default_context(cafile=lab.ca_file)


@pytest.mark.parametrize("token_ok", [True, False])
def test_imap_authenticate_xoauth2_after_continuation(lab, token_ok):
    token = lab.app_token() if token_ok else "not-a-lab-token"
    with imaplib.IMAP4_SSL("localhost", lab.ports["imap"], ssl_context=_context(lab), timeout=10) as imap:
        if token_ok:  # imaplib waits for "+ " and then sends the response: the continuation path
            typ, data = imap.authenticate("XOAUTH2", lambda _challenge: _xoauth2("alice@contoso.test", token).encode())
            assert typ == "OK", data
        else:
            with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATE failed"):
                imap.authenticate("XOAUTH2", lambda _challenge: _xoauth2("alice@contoso.test", token).encode())


def test_imap_authenticate_xoauth2_initial_response(lab):
    blob = base64.b64encode(_xoauth2("alice@contoso.test", lab.app_token()).encode()).decode()
    with imaplib.IMAP4_SSL("localhost", lab.ports["imap"], ssl_context=_context(lab), timeout=10) as imap:
        typ, data = imap._simple_command("AUTHENTICATE", "XOAUTH2", blob)  # pylint: disable=protected-access
        assert typ == "OK", data


@pytest.mark.parametrize("initial_response", [True, False])
def test_pop_auth_xoauth2(lab, initial_response):
    blob = base64.b64encode(_xoauth2("alice@contoso.test", lab.app_token()).encode()).decode()
    pop = poplib.POP3_SSL("localhost", lab.ports["pop"], context=_context(lab), timeout=10)
    try:
        if initial_response:
            answer = pop._shortcmd("AUTH XOAUTH2 " + blob)  # pylint: disable=protected-access
        else:
            pop._putcmd("AUTH XOAUTH2")  # pylint: disable=protected-access
            assert pop._getline()[0].startswith(b"+")  # pylint: disable=protected-access
            answer = pop._shortcmd(blob)  # pylint: disable=protected-access
        assert answer.startswith(b"+OK User successfully authenticated"), answer
    finally:
        pop.quit()


def test_pop_auth_xoauth2_bad_token(lab):
    pop = poplib.POP3_SSL("localhost", lab.ports["pop"], context=_context(lab), timeout=10)
    try:
        with pytest.raises(poplib.error_proto, match="Authentication failure"):
            pop._shortcmd("AUTH XOAUTH2 " + base64.b64encode(_xoauth2("alice@contoso.test", "bad").encode()).decode())  # pylint: disable=protected-access
    finally:
        pop.quit()
