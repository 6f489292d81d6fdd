"""The pages of `berth registry serve` in headless Chromium (selenium + Debian's chromedriver),
one phase of the acceptance test per run (the Rust test runs `berth pull` between phases):

    registry_web.py PHASE BASE_URL SHOTS_DIR

PHASE is alice-private, anonymous, bob, alice-delete or explore-search. Users: alice (a-pass)
owns alice/web (v1) and alice/tools (v1, v2); bob (b-pass) owns nothing. Each step saves a
screenshot in SHOTS_DIR; every check raises on failure; the last line printed is "all ok"."""

import os
import sys

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

PHASE, BASE, SHOTS = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
PASSWORDS = {"alice": "a-pass", "bob": "b-pass"}


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", "--no-first-run", "--disable-extensions"]:
        opts.add_argument(arg)
    service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    d = webdriver.Chrome(service=service, options=opts)
    d.set_page_load_timeout(30)
    return d


def shot(d, name):
    path = os.path.join(SHOTS, f"{name}.png")
    assert d.save_screenshot(path), path
    print("screenshot", path)


def wait(d, cond, what):
    # A form's POST reloads the page: the condition may read the rows of the page being
    # replaced, which the driver reports as stale — that is "not yet", not a failure.
    WebDriverWait(d, 15, ignored_exceptions=(StaleElementReferenceException,)).until(
        cond, message=what)


def go(d, path):
    d.get(BASE + path)
    wait(d, EC.presence_of_element_located((By.TAG_NAME, "main")), f"{path} rendered")


def h1(d):
    return d.find_element(By.TAG_NAME, "h1").text


def listed(d):
    """The repositories of the page's table."""
    return [r.get_attribute("data-repo") for r in d.find_elements(By.CSS_SELECTOR, "tr[data-repo]")]


def tags(d):
    return [r.get_attribute("data-tag") for r in d.find_elements(By.CSS_SELECTOR, "tr[data-tag]")]


def sign_in(d, user):
    go(d, "/login")
    d.find_element(By.ID, "username").send_keys(user)
    d.find_element(By.ID, "password").send_keys(PASSWORDS[user])
    d.find_element(By.ID, "submit").click()
    wait(d, EC.url_to_be(f"{BASE}/u/{user}"), f"{user} lands on their namespace")
    assert d.find_element(By.ID, "me").text == user
    cookie = d.get_cookie("berth_session")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Lax", cookie


def not_found(d, path):
    go(d, path)
    assert h1(d) == "Not found", (path, h1(d))


def alice_private(d):
    go(d, "/explore")
    assert listed(d) == ["alice/tools", "alice/web"], listed(d)
    assert d.find_elements(By.ID, "sign-in"), "anonymous: a sign-in link"
    shot(d, "01-explore-before")
    # A wrong password is refused and the form comes back.
    go(d, "/login")
    d.find_element(By.ID, "username").send_keys("alice")
    d.find_element(By.ID, "password").send_keys("wrong")
    d.find_element(By.ID, "submit").click()
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "p.error")), "refused")
    assert "incorrect username or password" in d.page_source
    shot(d, "02-login-refused")
    sign_in(d, "alice")
    assert listed(d) == ["alice/tools", "alice/web"], listed(d)
    shot(d, "03-alice-repositories")
    d.find_element(By.LINK_TEXT, "alice/web").click()
    wait(d, EC.url_to_be(f"{BASE}/r/alice/web"), "the repository page")
    assert "docker pull" in d.page_source and "berth pull" in d.page_source
    assert tags(d) == ["v1"], tags(d)
    shot(d, "04-alice-web")
    d.find_element(By.ID, "make-private").click()
    wait(d, EC.presence_of_element_located((By.ID, "make-public")), "now private")
    assert d.find_element(By.CSS_SELECTOR, "h1 .badge").text == "private"
    shot(d, "05-alice-web-private")
    # Her own private repository stays in her list.
    go(d, "/u/alice")
    assert listed(d) == ["alice/tools", "alice/web"], listed(d)
    d.find_element(By.ID, "sign-out").click()
    wait(d, EC.presence_of_element_located((By.ID, "sign-in")), "signed out")
    assert d.get_cookie("berth_session") is None, "sign-out clears the cookie"


def anonymous(d):
    go(d, "/explore")
    assert listed(d) == ["alice/tools"], listed(d)
    shot(d, "06-explore-anonymous")
    go(d, "/u/alice")
    assert listed(d) == ["alice/tools"], listed(d)
    shot(d, "07-alice-namespace-anonymous")
    not_found(d, "/r/alice/web")
    shot(d, "08-private-repository-anonymous-404")


def bob(d):
    sign_in(d, "bob")
    assert listed(d) == [], listed(d)
    go(d, "/u/alice")
    assert listed(d) == ["alice/tools"], listed(d)
    shot(d, "09-alice-namespace-as-bob")
    not_found(d, "/r/alice/web")
    shot(d, "10-private-repository-as-bob-404")
    go(d, "/search?q=web")
    assert listed(d) == [], listed(d)
    # bob may look at alice/tools, not change it.
    go(d, "/r/alice/tools")
    assert not d.find_elements(By.CSS_SELECTOR, "main form"), "no forms for bob"
    shot(d, "11-alice-tools-as-bob")


def alice_delete(d):
    sign_in(d, "alice")
    go(d, "/r/alice/tools")
    assert sorted(tags(d)) == ["v1", "v2"], tags(d)
    shot(d, "12-alice-tools-before-delete")
    d.find_element(By.ID, "delete-v2").click()
    wait(d, lambda d: tags(d) == ["v1"], "v2 gone")
    shot(d, "13-alice-tools-after-delete")


def explore_search(d):
    go(d, "/explore")
    assert listed(d) == ["alice/tools"], listed(d)
    shot(d, "14-explore-public")
    box = d.find_element(By.NAME, "q")
    box.send_keys("tool")
    box.submit()
    wait(d, EC.url_contains("/search?q=tool"), "the search page")
    assert listed(d) == ["alice/tools"], listed(d)
    shot(d, "15-search")


PHASES = {"alice-private": alice_private, "anonymous": anonymous, "bob": bob,
          "alice-delete": alice_delete, "explore-search": explore_search}

driver = browser()
try:
    PHASES[PHASE](driver)
except Exception:
    shot(driver, f"failed-{PHASE}")
    raise
finally:
    driver.quit()
print("all ok")
