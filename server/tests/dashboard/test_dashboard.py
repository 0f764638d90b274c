"""The web dashboard in real headless Chromium (Debian `chromium`, driven through Debian's
`chromedriver` by Selenium): the list loads, a compose requested through the API appears and
turns `done` without a reload, the filters work, and the renew and delete buttons work for an
allowed user and are absent for another. Who the browser is comes from the authenticating
proxy's header, which Chromium adds to every request it makes (page loads, the event stream,
the buttons' API calls). Screenshots go to $ODCS_ARTIFACTS_DIR (CI keeps them)."""

import os
import shutil
import tempfile
import time

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import Server

FIXTURE = os.environ.get(
    "ODCS_TEST_FIXTURE_REPO",
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "fixtures", "odcs-test-repo"),
)
ARTIFACTS = os.environ.get("ODCS_ARTIFACTS_DIR", os.path.join(tempfile.gettempdir(), "odcs-artifacts"))
CHROMIUM = os.environ.get("ODCS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ODCS_CHROMEDRIVER", "/usr/bin/chromedriver")

# alice may ask for repo and tag composes and is an admin; bob may do nothing.
EXTRA_CONFIG = """
auth_backend = "proxy"
auth_trusted_proxies = ["127.0.0.1"]
allowed_clients = {users = {alice = {source_types = ["repo", "tag"]}}}
admins = {users = ["alice"]}
"""


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def dashboard_server(request):
    workdir = tempfile.mkdtemp(prefix="odcs-dashboard-")
    srv = Server(request.param, workdir, standalone=True, extra_config=EXTRA_CONFIG)
    shutil.copytree(FIXTURE, os.path.join(srv.repo_root, "fixture"))
    yield srv
    srv.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def browser_as(user):
    """A headless Chromium whose every request says it comes from `user`."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", "--disable-gpu"]:
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-Remote-User": user}})
    return driver


@pytest.fixture
def alice():
    driver = browser_as("alice")
    yield driver
    driver.quit()


@pytest.fixture
def bob():
    driver = browser_as("bob")
    yield driver
    driver.quit()


def screenshot(driver, server, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    driver.save_screenshot(os.path.join(ARTIFACTS, f"dashboard-{name}-{server.store}.png"))


def request_compose(server, source):
    reply = requests.post(
        server.url + "api/1/composes/",
        json={"source": source, "seconds_to_live": 3600},
        headers={"X-Remote-User": "alice"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["id"]


def state_of_row(driver, compose_id):
    cells = driver.find_elements(By.CSS_SELECTOR, f'#composes tr[data-id="{compose_id}"] [data-field="state"]')
    return cells[0].text if cells else None


def test_a_new_compose_appears_and_turns_done_without_a_reload(dashboard_server, alice):
    alice.get(dashboard_server.url)
    assert alice.find_element(By.TAG_NAME, "h1").text == "On Demand Compose Service"
    assert alice.find_element(By.CSS_SELECTOR, ".user").text == "Signed in as alice"
    # A page that reloads loses this mark.
    alice.execute_script("window.odcsNotReloaded = true;")
    # Give the event stream a moment to connect before the compose is requested.
    WebDriverWait(alice, 10).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "true")
    repo = os.path.join(dashboard_server.repo_root, "fixture")
    compose_id = request_compose(dashboard_server, {"type": "repo", "source": repo,
                                                    "sigkeys": [""], "packages": ["ed"]})
    WebDriverWait(alice, 60).until(lambda d: state_of_row(d, compose_id) == "done")
    assert alice.execute_script("return window.odcsNotReloaded === true;")
    screenshot(alice, dashboard_server, "list")


def test_filters_narrow_the_list(dashboard_server, alice):
    done_compose(dashboard_server)
    failed_id = request_compose(dashboard_server, {"type": "tag", "source": "f40"})
    alice.get(dashboard_server.url)
    WebDriverWait(alice, 30).until(lambda d: state_of_row(d, failed_id) == "failed")
    Select(alice.find_element(By.NAME, "state")).select_by_visible_text("failed")
    alice.find_element(By.CSS_SELECTOR, ".filters button[type=submit]").click()
    WebDriverWait(alice, 10).until(lambda d: "state=failed" in d.current_url)
    states = {cell.text for cell in alice.find_elements(By.CSS_SELECTOR, '#composes [data-field="state"]')}
    assert states == {"failed"}
    assert state_of_row(alice, failed_id) == "failed"

    Select(alice.find_element(By.NAME, "state")).select_by_visible_text("any")
    Select(alice.find_element(By.NAME, "source_type")).select_by_visible_text("repo")
    alice.find_element(By.CSS_SELECTOR, ".filters button[type=submit]").click()
    WebDriverWait(alice, 10).until(lambda d: "source_type=repo" in d.current_url)
    assert state_of_row(alice, failed_id) is None
    assert alice.find_elements(By.CSS_SELECTOR, "#composes tr[data-id]")

    alice.find_element(By.NAME, "owner").send_keys("nobody")
    alice.find_element(By.CSS_SELECTOR, ".filters button[type=submit]").click()
    WebDriverWait(alice, 10).until(lambda d: "owner=nobody" in d.current_url)
    assert alice.find_element(By.CSS_SELECTOR, "#composes tr.empty").text == "No composes."


def done_compose(server):
    """A done repo compose: the one the first test made, or a new one."""
    reply = requests.get(server.url + "api/1/composes/?state=done&source_type=repo", timeout=30)
    items = reply.json()["items"]
    if items:
        return items[0]
    repo = os.path.join(server.repo_root, "fixture")
    compose_id = request_compose(server, {"type": "repo", "source": repo, "sigkeys": [""], "packages": ["ed"]})
    deadline = time.time() + 60
    while time.time() < deadline:
        compose = requests.get(f"{server.url}api/1/composes/{compose_id}", timeout=30).json()
        if compose["state_name"] != "wait" and compose["state_name"] != "generating":
            assert compose["state_name"] == "done", compose
            return compose
        time.sleep(0.5)
    raise AssertionError(f"compose {compose_id} did not finish")


def test_an_allowed_user_renews_and_deletes(dashboard_server, alice):
    compose = done_compose(dashboard_server)
    alice.get(f"{dashboard_server.url}dashboard/composes/{compose['id']}")
    history = [row.text.split()[1] for row in alice.find_elements(By.CSS_SELECTOR, "#history tbody tr")]
    assert history == ["wait", "generating", "done"]
    assert alice.find_element(By.LINK_TEXT, ".repo file").get_attribute("href") == compose["result_repofile"]
    # The log, read from the compose directory by the page.
    WebDriverWait(alice, 10).until(lambda d: "started by" in d.find_element(By.ID, "log").text)
    screenshot(alice, dashboard_server, "detail")

    alice.find_element(By.CSS_SELECTOR, 'button[data-action="renew"]').click()
    outcome = '[data-field="outcome"]'
    WebDriverWait(alice, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, outcome).text.startswith("Renewed until"))
    renewed = requests.get(f"{dashboard_server.url}api/1/composes/{compose['id']}", timeout=30).json()
    assert renewed["time_to_expire"] > compose["time_to_expire"]

    alice.refresh()
    alice.find_element(By.CSS_SELECTOR, 'button[data-action="delete"]').click()
    WebDriverWait(alice, 10).until(lambda d: "will be processed" in d.find_element(By.CSS_SELECTOR, outcome).text)
    marked = requests.get(f"{dashboard_server.url}api/1/composes/{compose['id']}", timeout=30).json()
    assert marked["removed_by"] == "alice"


def test_other_users_get_no_buttons(dashboard_server, bob):
    compose = done_compose(dashboard_server)
    bob.get(f"{dashboard_server.url}dashboard/composes/{compose['id']}")
    assert bob.find_element(By.CSS_SELECTOR, ".user").text == "Signed in as bob"
    assert bob.find_elements(By.CSS_SELECTOR, "button[data-action]") == []
    screenshot(bob, dashboard_server, "detail-other-user")
