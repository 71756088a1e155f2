//! The web pages in a real headless Chromium (Debian's `chromium` + `chromedriver`), driven with fantoccini:
//! log in, see the agenda, receive a live prompt, open the customer, make a promise at 02:30 on a spring-forward
//! night and see the warning, log the call and see the promise kept, and see the manager's keep rate change.
//! Every page is saved as a PNG under `target/tmp/browser/` for review.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::helpers::{at, spawn_app_at, zaragoza, TestApp};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free port, killed with the Chromium it started (its own process group) when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    async fn start() -> Self {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "browser tests need Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        use std::os::unix::process::CommandExt;
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver { child, port };
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = client.get(format!("http://127.0.0.1:{port}/status")).send().await;
            if let Ok(response) = status {
                let body: Value = response.json().await.unwrap_or(Value::Null);
                if body["value"]["ready"] == json!(true) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Chromium survives a kill of chromedriver alone; the group takes both.
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

struct Browser {
    client: Client,
    base: String,
    shots: PathBuf,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn open(app: &TestApp) -> Self {
        let driver = Driver::start().await;
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // Headless (no display here) and no sandbox (CI runs as root).
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", "--lang=en-US",
                         format!("--user-data-dir={}", profile.path().display())],
                // Notifications allowed, as if the agent had clicked "allow".
                "prefs": { "profile.default_content_setting_values.notifications": 1 }
            }
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("a chromium session");
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
        std::fs::create_dir_all(&shots).unwrap();
        Browser { client, base: app.address.clone(), shots, _driver: driver, _profile: profile }
    }

    async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect("navigate");
    }

    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("`{css}` did not appear: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.expect("text")
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        assert_eq!(&png[..4], b"\x89PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Fills the input whose label reads `label`, the way a person finds a field.
    async fn fill_by_label(&self, label: &str, value: &str) {
        let xpath = format!("//*[@id = //label[normalize-space()='{label}']/@for]");
        let input =
            self.client.find(Locator::XPath(&xpath)).await.unwrap_or_else(|e| panic!("no field `{label}`: {e}"));
        input.clear().await.ok();
        input.send_keys(value).await.expect("type");
    }

    async fn login(&self, email: &str, password: &str) {
        self.goto("/login").await;
        self.fill_by_label("Email", email).await;
        self.fill_by_label("Password", password).await;
        self.client.find(Locator::Css("form[action='/login'] button")).await.unwrap().click().await.unwrap();
        self.wait_for("header.bar").await;
    }

    async fn logout(&self) {
        self.client.find(Locator::Css("form.logout button")).await.unwrap().click().await.unwrap();
        self.wait_for("form[action='/login']").await;
    }

    /// Sets a form control's value with the events a person's typing would fire (datetime-local inputs do not
    /// take keystrokes the same way in every locale).
    async fn set_value(&self, css: &str, value: &str) {
        self.wait_for(css).await;
        let script = "const e = document.querySelector(arguments[0]); e.value = arguments[1];
                      e.dispatchEvent(new Event('input', {bubbles: true}));
                      e.dispatchEvent(new Event('change', {bubbles: true}));";
        self.client.execute(script, vec![json!(css), json!(value)]).await.expect("set value");
    }

    /// Submits a form and waits for the page it leads to: until the old page's root element is gone, so what is
    /// read next (a `.flash`, say) cannot come from the page the form was on.
    async fn submit(&self, form_css: &str) {
        let old_root = self.client.find(Locator::Css("html")).await.expect("the page's root");
        let button = format!("{form_css} button[type=submit]");
        self.client.find(Locator::Css(&button)).await.unwrap().click().await.unwrap();
        let deadline = Instant::now() + WAIT;
        while old_root.tag_name().await.is_ok() {
            assert!(Instant::now() < deadline, "submitting `{form_css}` did not lead to a new page");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn close(self) {
        self.client.close().await.expect("close the browser");
    }
}

async fn keep_rate(browser: &Browser) -> String {
    browser.goto("/dashboard").await;
    browser.text("#total-keep-rate").await
}

#[actix_web::test]
async fn an_agents_day_in_the_browser() {
    // Saturday 27 March 2027, 09:00 in Madrid; that night the clocks jump from 02:00 to 03:00.
    let app = spawn_app_at(at("2027-03-27T08:00:00Z")).await;
    let z = zaragoza(&app).await;
    for (id, password) in [(&z.marta.id, "marta-password-1"), (&z.manager.id, "lucia-password-1")] {
        let answer = app.patch(&format!("/api/v1/agents/{id}"), &app.admin, json!({ "password": password })).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    let customer = app
        .created(
            "/api/v1/customers",
            &z.marta.token,
            json!({ "name": "Ana Beltrán", "time_zone": "Europe/Madrid", "locale": "es-ES",
                    "phone": "+34 976 555 111", "contact_window": "always", "region": "ES" }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let callback = app
        .created(
            "/api/v1/promises",
            &z.marta.token,
            json!({ "customer_id": customer, "kind": "callback", "title": "Le llamo hoy a las 10:15",
                    "due_local": "2027-03-27T10:15:00" }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let started = Instant::now();
    let step = |name: &str| eprintln!("[browser] {:>6} ms  {name}", started.elapsed().as_millis());
    let browser = Browser::open(&app).await;
    step("chromium session open");

    // The manager looks first: nothing has come due yet, so there is no keep rate.
    browser.login("lucia.ferrer@tendero.test", "lucia-password-1").await;
    assert_eq!(keep_rate(&browser).await, "—");
    browser.screenshot("01-dashboard-before").await;
    step("manager dashboard before");
    browser.logout().await;

    // A wrong password is refused with a message, and nobody is logged in.
    browser.goto("/login").await;
    browser.fill_by_label("Email", "marta.gil@tendero.test").await;
    browser.fill_by_label("Password", "not-her-password").await;
    browser.submit("form[action='/login']").await;
    assert!(browser.text(".errors").await.contains("wrong"));

    // Marta's agenda: the 10:15 callback, with the customer's local time beside it.
    browser.login("marta.gil@tendero.test", "marta-password-1").await;
    assert_eq!(browser.client.current_url().await.unwrap().path(), "/agenda");
    let today = browser.text("#today-h + table").await;
    assert!(today.contains("Ana Beltrán") && today.contains("2027-03-27 10:15"), "{today}");
    browser.screenshot("02-agenda").await;
    step("agenda");

    // A live prompt: the lead reminder fires while the agenda is open and shows as a toast and a notification.
    browser
        .client
        .execute(
            "window.__notified = []; const Real = window.Notification;
             window.Notification = function (title, options) { window.__notified.push(options.body); return new Real(title, options); };
             window.Notification.permission = Real.permission;",
            vec![],
        )
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while browser
        .client
        .execute("return window.tenderoStream ? window.tenderoStream.readyState : -1", vec![])
        .await
        .unwrap()
        != json!(1)
    {
        assert!(Instant::now() < deadline, "the page never connected to the prompt stream");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.at("2027-03-27T09:05:00Z").await;
    let toast = browser.text(".toast pre").await;
    assert!(toast.contains("Ana Beltrán"), "{toast}");
    let notified = browser.client.execute("return window.__notified", vec![]).await.unwrap();
    assert_eq!(notified.as_array().map(Vec::len), Some(1), "{notified}");
    browser.screenshot("03-live-prompt").await;
    step("live prompt");
    let inbox = app.get(&format!("/api/v1/agents/{}/prompts?open=true", z.marta.id), &z.marta.token).await;
    assert_eq!(inbox.body.as_array().map(Vec::len), Some(1), "one open prompt before the click: {:?}", inbox.body);
    browser.client.find(Locator::Css(".toast button.ack")).await.unwrap().click().await.unwrap();
    // The acknowledgement goes through the API with the session cookie and the page's CSRF token.
    let deadline = Instant::now() + WAIT;
    loop {
        let inbox = app.get(&format!("/api/v1/agents/{}/prompts?open=true", z.marta.id), &z.marta.token).await;
        if inbox.body.as_array().map(Vec::len) == Some(0) {
            break;
        }
        assert!(Instant::now() < deadline, "the acknowledged prompt is still open: {:?}", inbox.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The customer page: the card, the open promise, the forms.
    browser.goto(&format!("/customers/{customer}")).await;
    assert!(browser.text("#card-h").await.contains("Antes de llamar"));
    assert!(browser.text(&format!("#promise-{callback}")).await.contains("Le llamo hoy a las 10:15"));
    browser.screenshot("04-customer").await;
    step("customer page");

    // A promise at 02:30 on the spring-forward night: the preview warns that 02:30 does not exist.
    browser.set_value("#p-title", "Le llamo esta noche a las 2:30 como me pidió").await;
    browser.set_value("#p-due", "2027-03-28T02:30").await;
    let warning = browser.text("#preview .warning[data-code='dst_gap_shifted']").await;
    assert!(warning.contains("03:30"), "{warning}");
    assert!(browser.text("#preview").await.contains("2027-03-28 03:30 Europe/Madrid"));
    browser.screenshot("05-dst-warning").await;
    step("dst warning");
    browser.submit("#promise-form").await;
    let flash = browser.text(".flash").await;
    assert!(flash.contains("Guardado"), "{flash}");
    let page = browser.text("main").await;
    assert!(page.contains("2027-03-28 03:30"), "the saved promise shows its adjusted time");

    // Log the call that keeps the 10:15 callback (no answer still counts: she showed up).
    browser.wait_for("#c-promise").await.select_by_value(&callback).await.unwrap();
    browser.wait_for("#c-outcome").await.select_by_value("no_answer").await.unwrap();
    browser.fill_by_label("Resumen", "No contesta; le dejo un mensaje de voz").await;
    browser.submit("#contact-form").await;
    assert!(browser.text(".flash").await.contains("Guardado"));
    browser.goto(&format!("/promises/{callback}")).await;
    assert_eq!(browser.text("h1 .status").await, "kept");
    let ledger = browser.text("table.ledger").await;
    assert!(ledger.contains("created") && ledger.contains("reminded") && ledger.contains("kept"), "{ledger}");
    browser.screenshot("06-promise-ledger").await;
    step("call logged, promise kept");

    // Readable at phone width.
    browser.client.set_window_size(390, 987).await.unwrap();
    step("resized");
    browser.goto(&format!("/customers/{customer}")).await;
    step("customer page at phone width");
    let width = browser.client.execute("return document.documentElement.scrollWidth", vec![]).await.unwrap();
    assert!(width.as_i64().unwrap() <= 390, "the customer page scrolls sideways at phone width: {width}");
    browser.screenshot("07-customer-phone").await;
    step("phone width");
    browser.client.set_window_size(1280, 1000).await.unwrap();
    browser.logout().await;

    // The manager sees the keep rate change: one promise due, kept on time.
    browser.login("lucia.ferrer@tendero.test", "lucia-password-1").await;
    assert_eq!(keep_rate(&browser).await, "100%");
    let row = browser.text(&format!("tr[data-row='{}']", z.marta.id)).await;
    assert!(row.contains("Marta Gil") && row.contains("100%"), "{row}");
    browser.screenshot("08-dashboard-after").await;
    step("manager dashboard after");
    let csv = browser.client.execute("return fetch('/dashboard.csv').then(r => r.text())", vec![]).await.unwrap();
    assert!(csv.as_str().unwrap().contains("Marta Gil"), "{csv}");

    browser.close().await;
}

#[actix_web::test]
async fn pages_need_a_session_and_forms_need_their_token() {
    let app = spawn_app_at(at("2027-03-27T08:00:00Z")).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let answer = client.get(format!("{}/agenda", app.address)).send().await.unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(answer.headers()["location"], "/login?next=/agenda");
    // A login post without the form's token is refused before the password is even looked at.
    let answer = client
        .post(format!("{}/login", app.address))
        .form(&[("email", "admin@tendero.test"), ("password", "whatever-it-is"), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    // Five wrong passwords lock the email out for a while, even with a valid form token.
    let z = zaragoza(&app).await;
    app.patch(&format!("/api/v1/agents/{}", z.marta.id), &app.admin, json!({ "password": "marta-password-1" })).await;
    let mut last = 0;
    for attempt in 0..6 {
        let form = client.get(format!("{}/login", app.address)).send().await.unwrap();
        let cookie = form.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        let html = form.text().await.unwrap();
        let token = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let password = if attempt < 5 { "wrong-password" } else { "marta-password-1" };
        let answer = client
            .post(format!("{}/login", app.address))
            .header("cookie", cookie)
            .form(&[("email", "marta.gil@tendero.test"), ("password", password), ("csrf", &token)])
            .send()
            .await
            .unwrap();
        last = answer.status().as_u16();
        if attempt < 5 {
            assert_eq!(last, 401, "attempt {attempt}");
        }
    }
    assert_eq!(last, 429, "the right password is refused while the email is locked out");
}
