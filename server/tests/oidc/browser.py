"""A stand-in for a person at a browser, for the CLI's browser login: opens the URL it is given
(as `$BROWSER URL` would), signs in on the provider's own login page and confirms its consent
page by submitting their forms as they are, and follows the redirects until the provider sends
it to the CLI's loopback listener, which it then visits. The login is `ODCS_TEST_LOGIN`."""

import os
import sys
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import requests


class FirstForm(HTMLParser):
    """The first form of a page: its action, method and inputs."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.method = "get"
        self.fields = {}
        self.done = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.done:
            return
        if tag == "form" and self.action is None:
            self.action = attrs.get("action", "")
            self.method = attrs.get("method", "get").lower()
        elif tag == "input" and self.action is not None and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form" and self.action is not None:
            self.done = True


def main(url):
    login = os.environ.get("ODCS_TEST_LOGIN", "alice")
    provider = urlparse(url).netloc
    session = requests.Session()
    reply = session.get(url, allow_redirects=False)
    for _ in range(20):
        if reply.is_redirect:
            target = urljoin(reply.url, reply.headers["Location"])
            if urlparse(target).netloc != provider:
                # Back to the application: the CLI's loopback listener.
                requests.get(target, timeout=10)
                return
            reply = session.get(target, allow_redirects=False)
            continue
        form = FirstForm()
        form.feed(reply.text)
        if form.action is None:
            raise SystemExit(f"no form on {reply.url}: {reply.status_code} {reply.text[:200]}")
        fields = dict(form.fields)
        if "login" in fields:
            fields.update(login=login, password="any password")
        action = urljoin(reply.url, form.action)
        reply = session.request(form.method, action, data=fields, allow_redirects=False)
    raise SystemExit("too many pages")


if __name__ == "__main__":
    main(sys.argv[1])
